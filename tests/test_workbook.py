"""`minil2o workbook`: the stubs, the verdicts (not started, right, wrong, error) and the one-line
reports, on the selected backend.

A workbook whose functions call the library function named on their `Library:` line must be all
right; for every exercise, a deliberately wrong version (a missing term, swapped gates, a mean for a
sum, a forgotten square or factor, a wrong sign) must be reported wrong, naming the exercise."""
import inspect
import os
import re
import subprocess
import sys

import pytest

from minil2o import layers
from minil2o.cli import main
from minil2o.workbook import EXERCISES, check
from minil2o.workbook.lookup import resolve
from minil2o.workbook.stubs import HEADER, workbook_source

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAMES = [ex.name for ex in EXERCISES]


def run_cli(capsys, *argv):
    """minil2o's main on argv; returns (exit code, stdout lines, stderr lines)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out.splitlines(), err.splitlines()


STUB = re.compile(r"def (\w+)\((.*?)\):\n.*?Library: (\S+)\n.*?raise NotImplementedError", re.S)


def calling_the_library(source):
    """Each stub's `raise NotImplementedError` replaced by a call of its `Library:` function."""
    def body(m):
        args = ", ".join(p.split("=")[0].strip() for p in m.group(2).split(",") if p.strip())
        return m.group(0).replace("raise NotImplementedError",
                                  f"return library({m.group(3)!r})({args})")
    return STUB.sub(body, source) + "\n\nfrom minil2o.workbook.lookup import resolve as library\n"


def test_new_then_check_reports_every_exercise_not_started(tmp_path):
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(f"{sys.executable} -m minil2o workbook new w.py && "
                          f"{sys.executable} -m minil2o workbook check w.py", shell=True,
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    lines = done.stdout.splitlines()
    assert done.returncode != 0 and done.stderr == ""
    assert lines[0].startswith(f"wrote {len(NAMES)} exercises to w.py")
    assert [line.split()[0] for line in lines[1:-1]] == NAMES
    assert all(line.split(None, 1)[1].strip() == "not started" for line in lines[1:-1])
    assert lines[-1] == f"0 of {len(NAMES)} right ({len(NAMES)} not started)"


def test_stubs_mirror_the_library(tmp_path, capsys):
    path = tmp_path / "w.py"
    assert run_cli(capsys, "workbook", "new", str(path))[0] == 0
    stubs = STUB.findall(path.read_text())
    assert [name for name, _, _ in stubs] == NAMES
    for ex, (name, params, library) in zip(EXERCISES, stubs):
        assert library == ex.library
        names = list(inspect.signature(resolve(library)).parameters)
        if ex.self_name:
            names[0] = ex.self_name
        assert [p.split("=")[0].strip() for p in params.split(",")] == names
    text = path.read_text()
    assert text.count("\n    raise NotImplementedError\n") == len(NAMES)
    assert all(f"Equation: {ex.equation}." in text for ex in EXERCISES)


def test_new_never_overwrites_without_force(tmp_path, capsys):
    path = tmp_path / "w.py"
    path.write_text("mine = 1\n")
    code, out, err = run_cli(capsys, "workbook", "new", str(path))
    assert code == 2 and out == [] and len(err) == 1 and "--force" in err[0]
    assert path.read_text() == "mine = 1\n"
    assert run_cli(capsys, "workbook", "new", str(path), "--force")[0] == 0
    assert path.read_text() == workbook_source(str(path))


def test_library_workbook_is_all_right(tmp_path, capsys):
    path = tmp_path / "w.py"
    path.write_text(calling_the_library(workbook_source("w.py")))
    code, out, err = run_cli(capsys, "workbook", "check", str(path))
    assert [line.split()[:2] for line in out[:-1]] == [[name, "right"] for name in NAMES], out
    assert out[-1] == f"{len(NAMES)} of {len(NAMES)} right" and err == [] and code == 0


WRONG = {
    "linear_backward": '''
def linear_backward(dout, cache):
    x, W = cache
    return dout @ W.T, x.T @ dout, xp.mean(dout, axis=0)          # a mean for the sum
''',
    "sigmoid_backward": '''
def sigmoid_backward(dout, cache):
    return dout * cache                                           # the term (1 - out) missing
''',
    "tanh_backward": '''
def tanh_backward(dout, cache):
    return dout * (1.0 - cache)                                   # the square forgotten
''',
    "softmax_cross_entropy": '''
def softmax_cross_entropy(logits, y):
    N = logits.shape[0]
    z = logits - xp.max(logits, axis=1, keepdims=True)
    log_p = z - xp.log(xp.sum(xp.exp(z), axis=1, keepdims=True))
    return -xp.sum(y * log_p) / N, xp.exp(log_p) - y              # the gradient's 1/N forgotten
''',
    "mlp_loss_and_grad": '''
def mlp_loss_and_grad(problem, theta, batch):
    from minil2o.layers import softmax_cross_entropy_probs as softmax_cross_entropy
    X, Y = problem.data(batch)
    layers = problem.layers(theta)
    hs = [X]
    for W, b in layers[:-1]:
        hs.append(problem.phi(hs[-1] @ W + b)[0])
    f, p = softmax_cross_entropy(hs[-1] @ layers[-1][0] + layers[-1][1], Y)
    delta, grads = (p - Y) / X.shape[1], []
    for l in range(len(layers) - 1, -1, -1):
        grads.append((xp.matrix_transpose(hs[l]) @ delta, xp.sum(delta, axis=1)))
        if l > 0:
            delta = delta @ xp.matrix_transpose(layers[l][0])     # phi'(a) missing
    return xp.sum(f), problem.flatten(grads[::-1])
''',
    "quadratic_loss_and_grad": '''
def quadratic_loss_and_grad(problem, theta, batch=None):
    B, d = problem.num_problems, problem.dim
    r = xp.reshape(problem.W @ xp.reshape(theta, (B, d, 1)), (B, d)) - problem.y
    Wt = xp.permute_dims(problem.W, (0, 2, 1))
    return xp.sum(r * r), 2.0 * xp.reshape(Wt @ xp.reshape(-r, (B, d, 1)), (-1,))  # sign
''',
    "quadratic_hvp": '''
def quadratic_hvp(problem, theta, v, batch=None):
    B, d = problem.num_problems, problem.dim
    Wt = xp.permute_dims(problem.W, (0, 2, 1))
    return xp.reshape(Wt @ (problem.W @ xp.reshape(v, (B, d, 1))), (-1,))  # the 2 forgotten
''',
    "lstm_step_backward": '''
def lstm_step_backward(dh, dc, cache):
    from minil2o import lstm
    x, h_prev, c_prev, Wx, Wh, i, f, o, g, tanh_c = cache
    swapped = (x, h_prev, c_prev, Wx, Wh, f, i, o, g, tanh_c)     # input and forget gates swapped
    return lstm.lstm_step_backward(dh, dc, swapped)
''',
    "lstm_backward": '''
def lstm_backward(dh, cache):
    from minil2o.lstm import lstm_step_backward
    T = dh.shape[1]
    dh_next = dc_next = xp.zeros_like(dh[:, 0, :])
    dxs, dWx, dWh, db = [None] * T, 0.0, 0.0, 0.0
    for t in reversed(range(T)):
        dxs[t], dh_next, dc_next, dWx_t, dWh_t, db_t = lstm_step_backward(
            dh[:, t, :], dc_next, cache[t])                       # + dh_next missing
        dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
    return xp.stack(dxs, axis=1), dh_next, dWx, dWh, db
''',
    "preprocess_forward": '''
def preprocess_forward(grad, mode, p):
    big = xp.abs(grad) >= math.exp(-p)
    safe = xp.where(big, xp.abs(grad), xp.ones_like(grad))
    x0 = xp.where(big, xp.log(safe) / p, -xp.ones_like(grad))
    x1 = xp.where(big, xp.sign(grad), grad)                       # the factor e^p forgotten
    return xp.stack([x0, x1], axis=1)
''',
    "preprocess_backward": '''
def preprocess_backward(dx, grad, mode, p):
    big = xp.abs(grad) >= math.exp(-p)
    safe = xp.where(big, grad, xp.ones_like(grad))
    return xp.where(big, dx[:, 0] / safe, math.exp(p) * dx[:, 1])  # the 1/p forgotten
''',
    "dm_step_backward": '''
def dm_step_backward(opt, phi, d_update, d_state, cache, need_d_grad=False):
    from minil2o.layers import linear_backward
    from minil2o.lstm import lstm_stack_backward
    from minil2o.optimizers.learned import preprocess_backward
    grad, readout, caches = cache
    d_phi = {k: xp.zeros_like(v) for k, v in phi.items()}
    d_out = d_update[:, None]                                     # output_scale forgotten
    d_top, d_phi["Wout"], d_phi["bout"] = linear_backward(d_out, readout)
    dx, d_prev = lstm_stack_backward(d_top, d_state, caches, d_phi)
    d_grad = preprocess_backward(dx, grad, opt.preprocess, opt.p) if need_d_grad else None
    return d_phi, d_prev, d_grad
''',
    "meta_gradient": '''
def meta_gradient(opt, phi, problem, tr, weights, second_derivatives=False):
    from minil2o.meta import zeros_like_state
    d_phi = {k: xp.zeros_like(v) for k, v in phi.items()}
    d_state = zeros_like_state(tr.state)
    for t in range(len(tr.caches), 0, -1):
        a = weights[t - 1] * tr.grads[t]                          # + a_{t+1} missing: no sum
        d_phi_t, d_state, _ = opt.step_backward(phi, a, d_state, tr.caches[t - 1])
        for k in d_phi:
            d_phi[k] += d_phi_t[k]
    return d_phi
''',
    "rnnprop_relative_inputs": '''
def rnnprop_relative_inputs(opt, grad, state):
    t = state["t"] + 1
    m = opt.beta1 * state["m"] + (1.0 - opt.beta1) * grad
    v = opt.beta2 * state["v"] + (1.0 - opt.beta2) * grad * grad
    c1 = c2 = 1.0                                                 # bias corrections forgotten
    sqrt_v = xp.sqrt(v / c2)
    denom = sqrt_v + opt.eps
    return xp.stack([(m / c1) / denom, grad / denom], axis=1), (t, m, v, c1, c2, sqrt_v, denom)
''',
    "rnnprop_relative_inputs_backward": '''
def rnnprop_relative_inputs_backward(opt, d_x, grad, d_state, parts):
    t, m, v, c1, c2, sqrt_v, denom = parts
    d_denom = -(d_x[:, 0] * (m / c1) + d_x[:, 1] * grad) / (denom * denom)
    d_v = d_denom / (2.0 * sqrt_v) / c2                           # + d_state["v"] missing
    d_m = d_x[:, 0] / (denom * c1) + d_state["m"]
    d_grad = d_x[:, 1] / denom + (1 - opt.beta1) * d_m + 2 * (1 - opt.beta2) * grad * d_v
    return opt.beta1 * d_m, opt.beta2 * d_v, d_grad
''',
    "adagrad_step": '''
def adagrad_step(opt, grad, state):
    G = state["G"] + grad * grad
    return -opt.lr * grad / xp.sqrt(G + opt.eps), {"t": state["t"] + 1, "G": G}  # eps inside
''',
    "conv2d_backward": '''
def conv2d_backward(dout, cache):
    from minil2o.convolution import conv2d_backward as library
    dx, dw, db = library(dout, cache)
    return dx, dw, xp.mean(dout, axis=(0, 2, 3))                  # a mean for the sum
''',
    "gram_backward": '''
def gram_backward(dG, F, shape):
    return xp.reshape(2.0 * dG @ F / F.shape[1], shape)           # dG assumed symmetric
''',
    "rnnprop_step_backward": '''
def rnnprop_step_backward(opt, phi, d_update, d_state, cache, need_d_grad=False):
    from minil2o.optimizers.learned import RNNprop
    d_phi, d_prev, d_grad = RNNprop.step_backward(opt, phi, d_update, d_state, cache, need_d_grad)
    return d_phi, {**d_prev, "m": 0 * d_prev["m"]}, d_grad        # m's gradient dropped
''',
    "logsumexp": '''
def logsumexp(x, axis=-1, keepdims=False):
    xp = array_namespace(x)
    return xp.log(xp.sum(xp.exp(x), axis=axis, keepdims=keepdims))  # no shift: overflows
''',
    "adam_update": '''
def adam_update(opt, grads, state, params):
    from minil2o.use.dropin import tree_update
    from minil2o.optimizers.hand import Adam
    fixed = Adam(lr=opt.lr, beta1=0.9, beta2=0.999, eps=opt.eps)  # the betas written in
    return tree_update(fixed, grads, state, params)
''',
    "tensor_sigmoid": '''
def tensor_sigmoid(x):
    s = 0.5 * xp.tanh(0.5 * x.data) + 0.5
    out = Tensor(s, (x,), "sigmoid")

    def _backward():
        x.grad += out.grad * s                                    # the term (1 - s) missing
    out._backward = _backward
    return out
''',
}


def test_every_exercise_has_a_wrong_version():
    assert sorted(WRONG) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_wrong_version_is_reported_wrong(name, tmp_path, capsys):
    path = tmp_path / "w.py"
    path.write_text(HEADER.format(path="w.py") + WRONG[name])
    code, out, err = run_cli(capsys, "workbook", "check", str(path), name)
    assert code == 1 and err == [] and len(out) == 2, out + err
    assert out[0].split()[:2] == [name, "wrong"] and "revisit" in out[0], out[0]
    assert out[1] == "0 of 1 right (1 wrong)"


def test_an_exception_is_reported_against_its_exercise_only(tmp_path, capsys):
    path = tmp_path / "w.py"
    path.write_text(HEADER.format(path="w.py") + '''
def linear_backward(dout, cache):
    x, W = cache
    return dout @ W, x.T @ dout, xp.sum(dout, axis=0)            # W, not W.T: shapes clash


def sigmoid_backward(dout, cache):
    return dout * cache * (1.0 - cache)
''')
    code, out, err = run_cli(capsys, "workbook", "check", str(path), "linear_backward",
                             "sigmoid_backward", "tanh_backward")
    line_no = next(i for i, line in enumerate(path.read_text().splitlines(), 1) if "W.T:" in line)
    assert out[0].split()[:2] == ["linear_backward", "error"] and f"(w.py:{line_no})" in out[0]
    assert out[1].split()[:2] == ["sigmoid_backward", "right"]
    assert out[2].split()[:2] == ["tanh_backward", "missing"]
    assert out[2].endswith("w.py defines no function tanh_backward")
    assert out[3] == "1 of 3 right (1 error, 1 missing)" and code == 1 and err == []


@pytest.mark.parametrize("source, what", [
    ("def linear_backward(dout, cache)\n    pass\n", "SyntaxError"),
    ("x = 1\ny = undefined_name\n", "NameError"),
    ("x = 1\n\n\nraise RuntimeError('at import')\n", "RuntimeError")])
def test_a_file_that_does_not_import_gets_one_line(source, what, tmp_path, capsys):
    path = tmp_path / "w.py"
    path.write_text(source)
    code, out, err = run_cli(capsys, "workbook", "check", str(path))
    line = {"SyntaxError": 1, "NameError": 2, "RuntimeError": 4}[what]
    assert code == 2 and out == [] and len(err) == 1, err
    assert f"w.py, line {line}: cannot import it: {what}" in err[0]


def test_unknown_names_and_hints(tmp_path, capsys):
    path = tmp_path / "w.py"
    path.write_text(workbook_source("w.py"))
    code, out, err = run_cli(capsys, "workbook", "check", str(path), "lstm_step_backwards")
    assert code == 2 and out == [] and len(err) == 1 and all(n in err[0] for n in NAMES)
    assert run_cli(capsys, "workbook", "hint", "nope")[0] == 2
    for ex in EXERCISES:
        code, out, err = run_cli(capsys, "workbook", "hint", ex.name)
        assert code == 0 and out[0].startswith(f"{ex.name}: ") and "1. " in "\n".join(out)
        assert not any(word in "\n".join(out) for word in ("return ", "def ", "import "))


def test_check_api_for_the_chapters(capsys):
    result = check("linear_backward", layers.linear_backward)
    compared = [m.output for m in result.measures if m.kind != "contract"]
    assert result.right and {"dx", "dW", "db"} <= set(compared)
    assert capsys.readouterr().out.split()[:2] == ["linear_backward", "right"]

    def not_yet(dout, cache):
        raise NotImplementedError
    assert check("tanh_backward", not_yet, quiet=True).status == "not started"
    wrong = check("tanh_backward", lambda dout, out: dout * (1.0 - out), quiet=True)
    assert wrong.status == "wrong" and not wrong.measures[-1].right
    assert wrong.measures[-1].output.startswith("dx")
    assert wrong.measures[-1].error > 1e-2
    assert "; revisit (3.7), chapter 3 [case " in wrong.line()
    assert capsys.readouterr().out == ""
