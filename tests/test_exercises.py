"""The graded exercises of the tutorials: the check of each (tutorials/checks.py, the one the
chapters call) passes on its solution (tutorials/solutions.py) and flags deliberately wrong
versions of it: a missing term, swapped gates or blocks, a mean for a sum, a forgotten square.
Where the workbook has the same exercise (checks.WORKBOOK), its checks alone pass the solution and
flag every one of those wrong versions too.

A wrong version is the solution's source with one edit, so each mistake is one line here. The checks
run on tiny float64 inputs under every backend."""
import inspect
import re
import pathlib
import sys

import pytest

from minil2o import workbook

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tutorials"))
import checks  # noqa: E402
import solutions  # noqa: E402

# exercise -> (its solution, [(the mistake, the solution's text, the wrong text), ...])
EXERCISES = {
    "adagrad_step": (solutions.adagrad_step, [
        ("forgotten square", "g * g", "xp.abs(g)"),
        ("G_{t-1} for G_t", "xp.sqrt(G)", "xp.sqrt(state[\"G\"])"),
        ("forgotten root", "xp.sqrt(G)", "G")]),
    "tensor_sigmoid": (solutions.my_sigmoid, [
        ("missing factor 1 - s", "s_bar * s * (1.0 - s)", "s_bar * s"),
        ("upstream gradient dropped", "s_bar * s * (1.0 - s)", "s * (1.0 - s)"),
        ("wrong sign in the forward", "xp.exp(-x.data)", "xp.exp(x.data)")]),
    "lstm_step_backward": (solutions.my_lstm_step_backward, [
        ("missing term of (3.5)", "dc + dh * o * (1.0 - tanh_c * tanh_c)", "dc"),
        ("input and forget gates swapped",
         "[di * i * (1.0 - i), df * f * (1.0 - f),", "[df * f * (1.0 - f), di * i * (1.0 - i),"),
        ("mean for sum", "xp.sum(da, axis=0)", "xp.mean(da, axis=0)")]),
    "lstm_backward": (solutions.my_lstm_backward, [
        ("missing term of (3.10)", "dhs[:, t, :] + dh_next", "dhs[:, t, :]"),
        ("weight gradients not summed", "dWx + dWx_t, dWh + dWh_t, db + db_t", "dWx_t, dWh_t, db_t"),
        ("cell gradient dropped", "dh_next, dc_next, caches[t])",
         "dh_next, 0 * dc_next, caches[t])")]),
    "meta_gradient": (solutions.my_meta_gradient, [
        ("the 1/B of the meta-batch forgotten", "(weights[t - 1] / B)", "weights[t - 1]"),
        ("missing term a_{t+1} of (4.1)", "a = a + (weights[t - 1] / B)", "a = (weights[t - 1] / B)"),
        ("missing Hessian term of (4.5)", "a = a + problem.hvp(", "a = a + 0 * problem.hvp("),
        ("gradients one step off", "* tr.grads[t]", "* tr.grads[t - 1]")]),
    "quadratic_loss_and_grad": (solutions.my_loss_and_grad, [
        ("forgotten square, with its matching gradient", "xp.sum(r * r), xp.reshape(grad, (-1,))",
         "xp.sum(r), xp.reshape(xp.matmul(Wt, xp.ones_like(grad)), (-1,))"),
        ("missing factor 2", "2.0 * xp.matmul(Wt", "xp.matmul(Wt"),
        ("W for W^T", "xp.matmul(Wt, xp.reshape(r", "xp.matmul(problem.W, xp.reshape(r")]),
    "quadratic_hvp": (solutions.my_hvp, [
        ("missing factor 2", "2.0 * xp.matmul(Wt, Wv)", "xp.matmul(Wt, Wv)"),
        ("W W^T for W^T W", "xp.matmul(Wt, Wv)", "xp.matmul(problem.W, Wv)")]),
    "mlp_loss_and_grad": (solutions.my_mlp_loss_and_grad, [
        ("sum for mean in delta", "- Y) / N", "- Y)"),
        ("missing sigmoid derivative", " * h * (1.0 - h)", ""),
        ("mean for sum in the bias gradient", "xp.sum(delta, axis=0)", "xp.mean(delta, axis=0)")]),
    "conv2d_backward": (solutions.my_conv2d_backward, [
        ("mean for sum", "xp.sum(dout2, axis=1)", "xp.mean(dout2, axis=1)"),
        ("kernel flipped", "dw = xp.reshape(dout2 @ cols.T, w.shape)",
         "dw = xp.flip(xp.reshape(dout2 @ cols.T, w.shape), axis=(2, 3))"),
        ("input and output channels swapped", "xp.reshape(dout2 @ cols.T, w.shape)",
         "xp.permute_dims(xp.reshape(dout2 @ cols.T, (3, 4, 3, 3)), (1, 0, 2, 3))")]),
    "gram_backward": (solutions.my_gram_backward, [
        ("missing transposed term", "(dG + dG.T)", "2 * dG"),
        ("forgotten 1/M", " / F.shape[1]", "")]),
    "rnnprop_relative_inputs_backward": (solutions.my_relative_inputs_backward, [
        ("missing term from the next step's m", " + d_state[\"m\"]", ""),
        ("beta1 for 1 - beta1", "(1.0 - opt.beta1) * d_m", "opt.beta1 * d_m"),
        ("bias correction c2 forgotten", " / (2.0 * sqrt_v) / c2", " / (2.0 * sqrt_v)")]),
    "rnnprop_step_backward": (solutions.my_rnnprop_step_backward, [
        ("missing term from the next step's m", " + d_state[\"m\"]", ""),
        ("ELU derivative wrong", "z + 1.0)", "z)"),
        ("tanh derivative not squared", "(1.0 - out * out)", "(1.0 - out)")]),
}


def wrong_version(solution, old, new):
    """The solution with `old` replaced by `new` (once); helpers it calls are edited likewise."""
    namespace = dict(vars(solutions))
    source = inspect.getsource(solution)
    if solution is solutions.my_rnnprop_step_backward:
        source = inspect.getsource(solutions.my_relative_inputs_backward) + "\n" + source
    assert source.count(old) == 1, f"{old!r} should occur once in {solution.__name__}"
    exec(compile(source.replace(old, new), "<wrong version>", "exec"), namespace)  # noqa: S102
    return namespace[solution.__name__]


def test_every_check_has_a_solution_and_mistakes():
    assert set(EXERCISES) == set(checks.GRADERS)
    assert all(len(mistakes) >= 2 for _, mistakes in EXERCISES.values())


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_solution_passes(name):
    errors = checks.check(name, EXERCISES[name][0], verbose=False)
    assert checks.passed(errors), errors


MISTAKES = [(name, m[0]) for name, (_, ms) in EXERCISES.items() for m in ms]


def wrong_version_of(name, mistake):
    solution, mistakes = EXERCISES[name]
    old, new = next((o, n) for m, o, n in mistakes if m == mistake)
    return wrong_version(solution, old, new)


@pytest.mark.parametrize("name, mistake", MISTAKES)
def test_wrong_version_is_flagged(name, mistake):
    errors = checks.check(name, wrong_version_of(name, mistake), verbose=False)
    assert not checks.passed(errors), f"{name}: the check missed '{mistake}' ({errors})"


def test_wired_exercises():
    """Every exercise the workbook has is wired, and only those: Adagrad's step, the convolution's
    and the Gram matrix's backward passes and RNNprop's whole step have no workbook counterpart."""
    assert set(checks.WORKBOOK) == set(checks.GRADERS) - {
        "adagrad_step", "conv2d_backward", "gram_backward", "rnnprop_step_backward"}


@pytest.mark.parametrize("name", checks.WORKBOOK)
def test_workbook_passes_the_solution(name):
    result = workbook.check(name, EXERCISES[name][0], quiet=True)
    assert result.right, result.line()


@pytest.mark.parametrize("name, mistake", [m for m in MISTAKES if m[0] in checks.WORKBOOK])
def test_workbook_flags_the_same_wrong_version(name, mistake):
    result = workbook.check(name, wrong_version_of(name, mistake), quiet=True)
    assert result.status == "wrong", f"{name}: the workbook missed '{mistake}' ({result.line()})"


def test_check_prints_the_workbook_verdict(capsys):
    grade = checks.check("lstm_step_backward", solutions.my_lstm_step_backward)
    out = capsys.readouterr().out.splitlines()
    assert grade.workbook.right and out[-1].startswith("workbook: lstm_step_backward ")
    assert out[-1].split()[2] == "right"


def test_unattempted_exercise_is_reported(capsys):
    def unsolved(*args):
        raise NotImplementedError
    assert checks.check("gram_backward", unsolved) is None
    assert "not attempted yet" in capsys.readouterr().out


CHAPTERS = sorted((pathlib.Path(checks.__file__).parent).glob("[0-9][0-9]_*.py"))


@pytest.mark.parametrize("chapter", [p.name for p in CHAPTERS])
def test_chapter_exercises_start_unsolved(chapter):
    """Every cell of a chapter that calls check(...) defines the learner's function unsolved, and
    every check it calls exists."""
    text = (CHAPTERS[0].parent / chapter).read_text(encoding="utf-8")
    cells = [c for c in text.split("\n# %%") if "\ncheck(" in "\n" + c]
    for cell in cells:
        assert "raise NotImplementedError" in cell, f"{chapter}: an exercise starts solved"
        for name in re.findall(r'^check\("(\w+)"', cell, re.M):
            assert name in checks.GRADERS, f"{chapter}: no check named {name}"


def test_every_open_question_has_an_answer():
    asked = {key for p in CHAPTERS
             for key in re.findall(r'^answer\("([\d.]+)"\)', p.read_text(encoding="utf-8"), re.M)}
    assert asked == set(solutions.ANSWERS)


def test_every_check_is_called_by_a_chapter():
    called = {name for p in CHAPTERS
              for name in re.findall(r'^check\("(\w+)"', p.read_text(encoding="utf-8"), re.M)}
    assert called == set(checks.GRADERS)
