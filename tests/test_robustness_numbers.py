"""Robustness by category: numbers without bounds or silently replaced, and odd output paths.

Numbers: every flag of every command that takes a number is found by walking the argparse parsers
(minil2o.cli.build_parser, subcommands of subcommands too) and given each hostile VARIANT; each
ends in one line naming the flag, the value given and the range allowed (exit 2, no traceback),
unless the table of bounds (minil2o.validate.BOUNDS) holds it, which ACCEPTED lists; a value
accepted is used exactly as given. The same for every setting of every hand-designed optimizer,
built directly and through minil2o.pretrained. The commands never do their work here: the
parser's commands are replaced by a recorder.

Odd paths: /dev/null, a file where a folder is needed, a path under a file, a name that is not
valid UTF-8 and a read-only folder, for the output flag of demo, evaluate, reproduce and bench:
one line before any work, or the work done and its paths printed.

docs/ROBUSTNESS.md (section "Numbers and odd paths") names these tests.
"""
import argparse
import math
import os
import stat
import subprocess
import sys

import numpy as np
import pytest

import minil2o
import minil2o.cli
from minil2o.backend import asarray, to_numpy
from minil2o.errors import UsageError
from minil2o.optimizers.hand import HAND_OPTIMIZERS
from minil2o.training.options import flag_of
from minil2o.training.train import TrainConfig
from minil2o.validate import BOUNDS, LARGEST, allowed_text
from helpers import REPO, assert_one_line

VARIANTS = ["0", "-1", "nan", "inf", "-inf", "1e308", str(2 ** 63), "1e20", "abc", ""]
# (row of BOUNDS, variant) that the table allows: zero where it means zero, the largest float
# where there is no upper bound but finiteness
ACCEPTED = {("seed", "0"), ("base_seed", "0"), ("random_scaling", "0"), ("convex_scaling", "0"),
            *(("clip_norm", v) for v in ("0", "1e308", str(2 ** 63), "1e20"))}  # 0: off
# rows that hold 0 as an ordinary value (a seed, no averaging, a weight of 0); any other row
# that allows 0 must say what 0 means (" (0: off)")
ORDINARY_ZERO = {"seed", "base_seed", "momentum", "decay", "rho", "beta1", "beta2", "init_std",
                 "init_scale", "noise", "init_noise", "content_weight", "style_weight",
                 "tv_weight"}
POSITIONALS = {("reproduce",): ["dm-fig4-quadratic"], ("workbook", "check"): ["w.py"]}


def walk(parser, words=()):
    """(command words, parser) for every command and subcommand below `parser`."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*words, name), sub
                yield from walk(sub, (*words, name))


def number_flags():
    """(command words, flag, row of BOUNDS) for every flag that takes a number."""
    found = []
    for words, parser in walk(minil2o.cli.build_parser()):
        for action in parser._actions:
            if action.option_strings and hasattr(action.type, "bound"):
                found.append((words, action.option_strings[-1], action.type.bound))
    return found


NUMBER_FLAGS = number_flags()


def test_every_number_flag_is_in_the_table():
    """No flag takes a number (by its type or its default) without a row of BOUNDS."""
    for words, parser in walk(minil2o.cli.build_parser()):
        for action in parser._actions:
            numeric = action.type in (int, float) or (
                isinstance(action.default, (int, float)) and not isinstance(action.default, bool))
            if action.option_strings and numeric:
                assert hasattr(action.type, "bound"), (words, action.option_strings)
    commands = {words[0] for words, _, _ in NUMBER_FLAGS}
    assert commands == {"demo", "train", "evaluate", "reproduce", "bench", "workbook",
                        "evaluate-shipped"}


def as_number(text, kind):
    """The flag's text as the kind of number its row reads, None where it is not one."""
    try:
        return int(text) if kind == "int" else float(text)
    except ValueError:
        return None


def forms(text):
    """The ways a refusal may write the value given: as given, or as Python reads it."""
    out = {text, repr(text)}
    try:
        out.add(repr(float(text)))
        out.add(str(int(text)))
    except ValueError:
        pass
    return out


@pytest.fixture
def recorded(monkeypatch):
    """minil2o.cli.main with every command replaced by a recorder of its parsed arguments."""
    calls = []
    build = minil2o.cli.build_parser

    def stopped():
        parser = build()
        for _, sub in walk(parser):
            sub.set_defaults(func=lambda args: calls.append(args) or 0)
        return parser
    monkeypatch.setattr(minil2o.cli, "build_parser", stopped)
    return calls


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("words, flag, bound", NUMBER_FLAGS,
                         ids=[" ".join((*w, f)) for w, f, _ in NUMBER_FLAGS])
def test_every_number_flag_with_hostile_values(capsys, recorded, words, flag, bound, variant):
    code = minil2o.cli.main([*words, *POSITIONALS.get(words, []), f"{flag}={variant}"])
    out, err = capsys.readouterr()
    if (bound, variant) in ACCEPTED:
        assert code == 0 and err == "", err
        given = getattr(recorded[-1], flag.lstrip("-").replace("-", "_"))
        assert given == float(variant) and type(given).__name__ == BOUNDS[bound].kind
        return
    assert code == 2 and not recorded
    assert_one_line(err, f"argument {flag}:", allowed_text(bound))
    assert any(f"got {form}" in err for form in forms(variant)), err


def test_the_table_allows_zero_only_where_zero_means_zero():
    for name, b in BOUNDS.items():
        if b.low == 0 and not b.open_low and name not in ORDINARY_ZERO:
            assert "0:" in b.note, f"{name}: 0 allowed, but the table does not say what it means"


def test_every_count_and_size_has_an_upper_bound():
    for name, b in BOUNDS.items():
        assert b.kind in ("int", "float")
        assert b.high < LARGEST or (b.kind == "float" and b.low == 0), name


@pytest.mark.parametrize("field", [f for f in TrainConfig.__dataclass_fields__.values()
                                   if f.type in (int, float)], ids=lambda f: f.name)
def test_train_flags_and_train_config_agree(capsys, recorded, field):
    """A TrainConfig field's flag and TrainConfig.validate accept and refuse the same values."""
    from helpers import tiny_config
    for text in VARIANTS + ["1", "0.5", "20", "10000000", "10000001"]:
        code = minil2o.cli.main(["train", f"{flag_of(field)}={text}"])
        capsys.readouterr()
        value = as_number(text, BOUNDS[field.name].kind)
        try:
            tiny_config(**({field.name: value, "horizon": 10 ** 7} if field.name == "unroll"
                           else {field.name: value})).validate()
            valid = value is not None
        except UsageError:
            valid = False
        if field.name in ("horizon", "unroll") and code == 0:
            continue                       # TrainConfig also wants horizon % unroll == 0
        assert (code == 0) == valid, (field.name, text)


# -- bench: a value given is never replaced by a default ------------------------------------------

@pytest.mark.parametrize("quick", [False, True])
def test_bench_uses_every_value_given(quick):
    import minil2o.bench.throughput as bench
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    given = ["--horizon", "3", "--unroll", "1", "--sizes", "7,1e1", "--unrolls", "2",
             "--mnist-meta-batch", "5", "--repeat", "2", "--max-gb", "0.5"]
    s = bench.settings(parser.parse_args(given + (["--quick"] if quick else [])))
    assert (s["horizon"], s["unroll"], s["sizes"], s["unrolls"], s["mnist_meta_batch"],
            s["repeat"], s["max_gb"]) == (3, 1, [7, 10], [2], 5, 2, 0.5)


def test_bench_names_a_default_it_did_not_get():
    import minil2o.bench.throughput as bench
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    with pytest.raises(UsageError, match=r"--horizon 100 \(its default\) .* --unroll 7$"):
        bench.settings(parser.parse_args(["--unroll", "7"]))


# -- the API: every setting of every hand-designed optimizer ---------------------------------------

API_VARIANTS = [0, 0.0, -1, math.nan, math.inf, -math.inf, 1e308, 2 ** 63, 1e20, "abc", True,
                None, 1.0, 0.5, 1000, 1000.5]


def inside(bound, value):
    b = BOUNDS[bound]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    if b.kind == "int" and not isinstance(value, int):
        return False
    return (value > b.low if b.open_low else value >= b.low) and \
        (value < b.high if b.open_high else value <= b.high)


HAND_SETTINGS = [(name, setting, bound) for name, cls in HAND_OPTIMIZERS.items()
                 for setting, bound in [("lr", "lr")] +
                 [(k, b) for k, (_, b) in cls.hyper.items()]]


@pytest.mark.parametrize("build", ["class", "pretrained"])
@pytest.mark.parametrize("name, setting, bound", HAND_SETTINGS,
                         ids=[f"{n}-{s}" for n, s, _ in HAND_SETTINGS])
def test_every_hand_setting_with_hostile_values(build, name, setting, bound):
    for value in API_VARIANTS:
        if value is None and build == "pretrained":     # None: the default of a constructor
            continue
        make = HAND_OPTIMIZERS[name] if build == "class" else \
            (lambda **kw: minil2o.pretrained(name, **kw))
        if inside(bound, value) or value is None:          # None: the documented default
            opt = make(**{setting: value})
            hand = opt if build == "class" else opt._make("float32")
            default = HAND_OPTIMIZERS[name]().hyperparameters()[setting]
            assert hand.hyperparameters()[setting] == (default if value is None else value)
            continue
        with pytest.raises(UsageError) as caught:
            make(**{setting: value})
        line = str(caught.value)
        assert "\n" not in line and setting in line and allowed_text(bound) in line, line
        assert repr(value) in line, line


@pytest.mark.parametrize("name", HAND_OPTIMIZERS)
def test_the_corners_of_the_bounds_give_finite_steps(name):
    """Every hand-designed optimizer at the extremes its bounds allow (the largest lr, the
    smallest and largest eps, averages of 0 and 0.999999) steps finitely on float32."""
    cls = HAND_OPTIMIZERS[name]
    corners = [{"lr": 1000.0}, {"lr": 1e-30}]
    for setting, (_, bound) in cls.hyper.items():
        b = BOUNDS[bound]
        lows = [b.low] if not b.open_low else [b.low + 1e-30]
        highs = [b.high] if not b.open_high else [b.high - 1e-6]
        corners += [{"lr": 1000.0, setting: v} for v in lows + highs]
    grads = asarray([1e-30, 1.0, -1e15, 0.0], dtype="float32")       # g*g fits in float32
    for settings in corners:
        opt = cls(**settings)
        state = opt.init_state(4)
        for _ in range(3):
            update, state = opt.step(grads, state)
            assert np.all(np.isfinite(to_numpy(update))), (settings, update)


# -- odd output paths ------------------------------------------------------------------------------

class WorkStarted(Exception):
    """Raised where a command would begin its work: the checks before it all passed."""


def stop_work(monkeypatch):
    def started(*args, **kwargs):
        raise WorkStarted
    monkeypatch.setattr("minil2o.experiments.demo.train_best", started)
    monkeypatch.setattr("minil2o.evaluation.evaluate.compare", started)
    monkeypatch.setattr("minil2o.experiments.reproduce.load_experiment_optimizers", started)
    monkeypatch.setattr("minil2o.bench.throughput.machine", started)


OUT_FLAGS = {"demo": ["demo"], "evaluate": ["evaluate", "--baselines", "sgd"],
             "reproduce": ["reproduce", "dm-fig4-quadratic"], "bench": ["bench", "--quick"]}
NON_UTF8 = os.fsdecode(b"out-\xff\xfe")


def odd_paths(tmp_path):
    """name -> (path, what must stay as it is)."""
    (tmp_path / "a-file").write_text("keep")
    return {"dev-null": "/dev/null", "a-file": str(tmp_path / "a-file"),
            "under-a-file": str(tmp_path / "a-file" / "out"), "folder-for-a-file": str(tmp_path)}


@pytest.mark.parametrize("kind", ["dev-null", "a-file", "under-a-file", "folder-for-a-file"])
@pytest.mark.parametrize("command", OUT_FLAGS)
def test_odd_output_paths_end_in_one_line_before_any_work(capsys, monkeypatch, tmp_path,
                                                          command, kind):
    stop_work(monkeypatch)
    path = odd_paths(tmp_path)[kind]
    if command == "bench" and kind == "a-file":
        path = str(tmp_path / "a-file" / "bench.json")
    elif command != "bench" and kind == "folder-for-a-file":
        path = str(tmp_path / "new-folder")                    # a folder: fine for these
    code = minil2o.cli.main([*OUT_FLAGS[command], "--out", path])
    _, err = capsys.readouterr()
    if command != "bench" and kind == "folder-for-a-file":
        assert code == 1 and "WorkStarted" in err             # reached the work
    else:
        assert code == 2, err
        assert_one_line(err, "minil2o: error:")
        assert "WorkStarted" not in err
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert (tmp_path / "a-file").read_text() == "keep"


@pytest.mark.parametrize("command", OUT_FLAGS)
def test_a_name_that_is_not_utf8_is_a_name_like_any(capsys, monkeypatch, tmp_path, command):
    stop_work(monkeypatch)
    path = os.path.join(tmp_path, NON_UTF8, "bench.json" if command == "bench" else "")
    code = minil2o.cli.main([*OUT_FLAGS[command], "--out", path])
    _, err = capsys.readouterr()
    assert code == 1 and "WorkStarted" in err, err


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
@pytest.mark.parametrize("command", OUT_FLAGS)
def test_a_read_only_folder_ends_in_one_line(capsys, monkeypatch, tmp_path, command):
    """A folder without write permission (for root, who may write anywhere: /proc/self, which
    no one can write in)."""
    stop_work(monkeypatch)
    folder = tmp_path / "ro" if os.geteuid() != 0 else "/proc/self"
    if os.geteuid() != 0:
        folder.mkdir()
        folder.chmod(0o555)
    try:
        code = minil2o.cli.main([*OUT_FLAGS[command], "--out", os.path.join(folder, "out")])
    finally:
        if os.geteuid() != 0:
            folder.chmod(0o755)
    _, err = capsys.readouterr()
    assert code in (1, 2)
    assert_one_line(err, "minil2o: error:", str(folder))
    assert "WorkStarted" not in err


def test_evaluate_into_a_folder_whose_name_is_not_utf8(tmp_path):
    """The table, the figure and its path printed, on a strict UTF-8 stdout."""
    out = os.path.join(tmp_path, NON_UTF8)
    env = dict(os.environ, PYTHONIOENCODING="utf-8", PYTHONPATH=REPO)
    r = subprocess.run([sys.executable, "-m", "minil2o", "evaluate", "--baselines", "sgd",
                        "--steps", "3", "--num-test", "2", "--num-tune", "1", "--out", out],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "figure: " in r.stdout and "out-\\xff\\xfe" in r.stdout
    assert os.path.getsize(os.path.join(out, "curves.png")) > 0


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_json_and_figures_get_the_same_permissions(tmp_path, umask):
    """A file written through a temporary file (mkstemp's 0600) gets what open() would give,
    the figures too; a replaced file keeps its own permissions."""
    from minil2o.evaluation.plots import plot_curves
    from minil2o.files.atomic import atomic_file
    results = {"SGD": {"lr": 0.1, "mean": np.ones(3), "stderr": np.zeros(3)}}
    old = os.umask(umask)
    try:
        with atomic_file(tmp_path / "numbers.json", "w") as fh:
            fh.write("{}")
        plot_curves(results, str(tmp_path / "curves.png"), "t")
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
        assert modes == {"numbers.json": 0o666 & ~umask, "curves.png": 0o666 & ~umask}
        for name in modes:
            os.chmod(tmp_path / name, 0o640)
        with atomic_file(tmp_path / "numbers.json", "w") as fh:
            fh.write("{}")
        plot_curves(results, str(tmp_path / "curves.png"), "t")
        assert {stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()} == {0o640}
    finally:
        os.umask(old)
