"""Robustness of the one loader (minil2o/files/loader.py) and of the states handed back to an
optimizer, by category with generated variants: files taken at their word (every numpy dtype in
every array of an optimizer file and of a training state, every field of the metadata removed or
changed, format versions, per-group files malformed in each field, settings that imply more
parameters than the file holds) and states taken at their word (each key of a state missing,
renamed, reshaped, retyped, NaN or Inf; the state of another optimizer). Each ends in one line
naming the file and the field (or the state's entry), or loads exactly what was saved; a refused
state changes nothing. Also the path rule of pretrained(): a path that exists is a path.
"""
import copy
import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from helpers import assert_one_line, run_cli, tiny_config
import minil2o
from minil2o.backend import asarray, to_numpy, xp
from minil2o.errors import DataError, UsageError
from minil2o.files import checkpoint, loader
from minil2o.optimizers.grouped import PerGroupOptimizer
from minil2o.optimizers.learned import DMOptimizer
from minil2o.training.runs import load_optimizer, save_optimizer
from minil2o.training.train import Trainer
from minil2o.use.dropin import State

def every_dtype():
    """Every dtype numpy has: each scalar type, flexible ones, byte orders, structured, object."""
    found = {np.dtype(t) for t in set(np.sctypeDict.values())}
    found |= {np.dtype(s) for s in ("U3", "S3", "V8", "M8[s]", "m8[ns]", ">f4", ">f8", "<f4",
                                    ">i4", "O")}
    found.add(np.dtype([("a", "<f4"), ("b", "<f4")]))
    found.add(np.dtype([("x", "<f8")]))
    return sorted(found, key=str)


def is_real(dtype):
    """float32 or float64, in either byte order: what the loader takes."""
    return dtype.kind == "f" and dtype.itemsize in (4, 8) and dtype.fields is None


def as_dtype(array, dtype):
    """array's values (or zeros, where they do not convert) in dtype."""
    if dtype.kind in "fciub" and dtype.fields is None:
        with np.errstate(all="ignore"):
            return array.astype(dtype)
    return np.zeros(array.shape, dtype)


def one_line(error, *words):
    message = str(error.value)
    assert "\n" not in message, message
    for word in words:
        assert word in message, (word, message)
    return message


def write_raw(path, arrays, meta):
    """An npz written directly: arrays and meta (JSON) exactly as given, nothing checked."""
    np.savez(path, **arrays, __meta__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))


@pytest.fixture
def dm_file(tmp_path):
    """A small DM optimizer saved by save_optimizer: (path, its arrays, its metadata)."""
    opt = DMOptimizer(hidden=4)
    path = tmp_path / "optimizer.npz"
    save_optimizer(path, opt, opt.init_params(np.random.default_rng(0)),
                   {"config": {"seed": 1}, "epoch": 3, "score": 0.5})
    arrays, meta = checkpoint.load(path)
    return path, arrays, meta


# ======================================================================= files: dtypes
@pytest.mark.parametrize("dtype", every_dtype(), ids=str)
def test_every_dtype_in_every_array_of_an_optimizer_file(dm_file, dtype):
    path, arrays, meta = dm_file
    for name in arrays:
        bad = path.with_name(f"bad-{name.replace('/', '-')}.npz")
        write_raw(bad, {**arrays, name: as_dtype(arrays[name], dtype)}, meta)
        if is_real(dtype):
            loaded = load_optimizer(bad)
            np.testing.assert_array_equal(to_numpy(loaded.phi[name[4:]]), arrays[name])
            continue
        with pytest.raises(DataError) as info:
            load_optimizer(bad)
        one_line(info, bad.name)
        if dtype.kind != "O":                             # (objects: refused as pickle)
            one_line(info, name, "float32 or float64")
        with pytest.raises(UsageError):
            minil2o.pretrained(bad)


@pytest.mark.parametrize("value", [1e39, -3.5e38, 1e300, np.finfo(np.float64).max])
def test_float64_values_that_overflow_float32_are_refused_in_a_float32_run(dm_file, value):
    path, arrays, meta = dm_file
    for name in arrays:
        big = arrays[name].astype(np.float64)
        big.flat[-1] = value
        write_raw(path, {**arrays, name: big}, meta)
        with pytest.raises(DataError) as info:
            load_optimizer(path, "float32")
        one_line(info, path.name, name, "NaN or Inf as float32")
        with pytest.raises(DataError):
            minil2o.pretrained(path)
        assert float(to_numpy(load_optimizer(path, "float64").phi[name[4:]]).flat[-1]) == value


def test_arrays_missing_extra_or_reshaped_are_named(dm_file):
    path, arrays, meta = dm_file
    variants = {}
    for name, a in arrays.items():
        variants[f"missing {name}"] = ({k: v for k, v in arrays.items() if k != name}, name)
        variants[f"renamed {name}"] = ({**{k: v for k, v in arrays.items() if k != name},
                                        name + "x": a}, name)
        variants[f"reshaped {name}"] = ({**arrays, name: np.zeros(a.shape + (1,), a.dtype)}, name)
    variants["an extra array"] = ({**arrays, "phi/extra": np.zeros(2, np.float32)}, "phi/extra")
    variants["a state array"] = ({**arrays, "adam/m": np.zeros(2, np.float32)}, "training state")
    for what, (bad, words) in variants.items():
        write_raw(path, bad, meta)
        with pytest.raises(DataError) as info:
            load_optimizer(path)
        one_line(info, path.name, words)


# ======================================================================= files: metadata
HOSTILE = [None, -1, 0, 2 ** 70, 1e308, float("nan"), "x", "", [], {}, True, [1, [2]], {"a": 1}]


def key_paths(tree, leaves=False, prefix=()):
    """Every entry of nested dicts as key paths (only those that are not dicts, with leaves)."""
    for key, value in tree.items():
        if not (leaves and isinstance(value, dict)):
            yield prefix + (key,)
        if isinstance(value, dict):
            yield from key_paths(value, leaves, prefix + (key,))


def node_at(tree, where):
    for key in where:
        tree = tree[key]
    return tree


def replaced(tree, where, new, remove=False):
    """A copy of nested dicts `tree` with the entry at key path `where` set to new, or removed."""
    copy = {k: (replaced(v, (), None) if isinstance(v, dict) else v) for k, v in tree.items()}
    if where:
        node = node_at(copy, where[:-1])
        if remove:
            del node[where[-1]]
        else:
            node[where[-1]] = new
    return copy


def test_every_field_of_the_metadata_removed_or_changed(dm_file):
    path, arrays, meta = dm_file
    required = {("format",), ("format_version",), ("optimizer",), ("optimizer", "kind"),
                ("optimizer", "hidden")}
    good = load_optimizer(path).phi
    for where in list(key_paths(meta)):
        for remove, value in [(True, None)] + [(False, v) for v in HOSTILE]:
            write_raw(path, arrays, replaced(meta, where, value, remove))
            try:
                loaded = load_optimizer(path)
            except DataError as error:
                assert "\n" not in str(error) and path.name in str(error), (where, value, error)
                continue
            assert where not in required, (where, value, remove)
            for k, v in good.items():
                np.testing.assert_array_equal(to_numpy(loaded.phi[k]), to_numpy(v))


@pytest.mark.parametrize("version", [0, 2, 999, -1, 2 ** 64, "1", "format_v999", 1.0, 1.5, True,
                                     None, [1], {"v": 1}])
def test_format_versions_other_than_1_are_refused(dm_file, version):
    path, arrays, meta = dm_file
    write_raw(path, arrays, {**meta, "format_version": version})
    with pytest.raises(DataError) as info:
        load_optimizer(path)
    one_line(info, path.name, "format_version", repr(version)[:10])
    write_raw(path, arrays, {**meta, "format_version": 1})
    assert load_optimizer(path).phi


def test_settings_implying_huge_parameters_are_refused_before_allocating(dm_file):
    path, arrays, meta = dm_file
    for settings in ({"hidden": 4096, "num_layers": 16}, {"hidden": 4096}, {"num_layers": 16}):
        write_raw(path, arrays, {**meta, "optimizer": {**meta["optimizer"], **settings}})
        tracemalloc.start()
        with pytest.raises(DataError) as info:
            load_optimizer(path)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        one_line(info, path.name, "parameters", "do not match a dm optimizer")
        assert peak < 50 << 20, peak


# ======================================================================= files: per-group
@pytest.fixture
def group_file(tmp_path):
    opt = PerGroupOptimizer({"conv": DMOptimizer(hidden=4), "fc": DMOptimizer(hidden=4)},
                            {"conv": 6, "fc": 5})
    path = tmp_path / "groups.npz"
    save_optimizer(path, opt, opt.init_params(np.random.default_rng(1)), {})
    arrays, meta = checkpoint.load(path)
    return path, arrays, meta


GROUP_VARIANTS = {
    "optimizers": [None, [], {}, "dm", 3, [{"kind": "dm"}],
                   {f"g{i}": {"kind": "dm", "hidden": 4} for i in range(65)}],
    "sizes": [None, [], {}, "6", 3, {"conv": 6}, {"conv": 6, "fc": 5, "x": 1},
              {"conv": 0, "fc": 5}, {"conv": -1, "fc": 5}, {"conv": 1.5, "fc": 5},
              {"conv": "6", "fc": 5}, {"conv": True, "fc": 5}, {"conv": 2 ** 41, "fc": 5},
              {"conv": None, "fc": 5}],
    "optimizers.conv": [None, [], "dm", 4, {}, {"kind": "adam"}, {"kind": "per-group",
                        "optimizers": {"a": {"kind": "dm"}}, "sizes": {"a": 1}},
                        {"kind": "dm", "hidden": 8}, {"kind": "dm", "hidden": -4},
                        {"kind": "dm", "hidden": 4, "foo": 1}],
    "group names": [{"": {"kind": "dm", "hidden": 4}}, {"a/b": {"kind": "dm", "hidden": 4}},
                    {"x" * 200: {"kind": "dm", "hidden": 4}}],
    "kind": [None, "Per-Group", "per-group ", 7],
}


@pytest.mark.parametrize("field, value", [(f, v) for f, values in GROUP_VARIANTS.items()
                                          for v in values])
def test_per_group_files_malformed_in_each_field(group_file, field, value):
    path, arrays, meta = group_file
    cfg = json.loads(json.dumps(meta["optimizer"]))
    if field == "optimizers.conv":
        cfg["optimizers"]["conv"] = value
    elif field == "group names":
        cfg["optimizers"] = value
        cfg["sizes"] = {k: 3 for k in value}
    else:
        cfg[field] = value
    write_raw(path, arrays, {**meta, "optimizer": cfg})
    with pytest.raises(DataError) as info:
        load_optimizer(path)
    one_line(info, path.name)
    with pytest.raises(UsageError):
        minil2o.pretrained(path)


def test_a_per_group_file_loads_and_each_of_its_arrays_is_checked(group_file):
    path, arrays, meta = group_file
    assert set(load_optimizer(path).phi) == {k[4:] for k in arrays}
    for name in arrays:
        write_raw(path, {**arrays, name: arrays[name].astype(np.int32)}, meta)
        with pytest.raises(DataError) as info:
            load_optimizer(path)
        one_line(info, path.name, name, "int32")


# ======================================================================= files: training states
@pytest.fixture
def finished_run(tmp_path):
    Trainer(tiny_config(epochs=1), out_dir=tmp_path, log=lambda *_: None).run(progress=False)
    return tmp_path


@pytest.mark.parametrize("dtype", [d for d in every_dtype() if not is_real(d)], ids=str)
def test_every_array_of_a_training_state_is_checked(finished_run, dtype):
    path = finished_run / "train_state.npz"
    arrays, meta = checkpoint.load(path)
    for name in arrays:
        write_raw(path, {**arrays, name: as_dtype(arrays[name], dtype)}, meta)
        with pytest.raises(DataError) as info:
            Trainer(tiny_config(epochs=1), out_dir=finished_run, resume=True, log=lambda *_: None)
        one_line(info, "train_state.npz", "pickle" if dtype.kind == "O" else name)


def test_a_training_state_overflowing_float32_or_with_extra_arrays_is_refused(finished_run):
    path = finished_run / "train_state.npz"
    arrays, meta = checkpoint.load(path)
    variants = {name: {**arrays, name: np.full(arrays[name].shape, 1e300)} for name in arrays}
    variants["extra"] = {**arrays, "phi/extra": np.zeros(1, np.float32)}
    for name, bad in variants.items():
        write_raw(path, bad, meta)
        with pytest.raises(DataError) as info:
            Trainer(tiny_config(epochs=1), out_dir=finished_run, resume=True, log=lambda *_: None)
        one_line(info, "train_state.npz", "phi/extra" if name == "extra" else name)


# ======================================================================= states
def params():
    """Arrays for every optimizer below: a 4-d one (a conv filter, for dm-cnn's conv group), a
    vector and a matrix."""
    return [asarray(np.full((2, 1, 3, 3), 0.5), "float32"), asarray(np.ones(4), "float32"),
            asarray(np.ones((3, 4)), "float32")]


OPTIMIZERS = ["rnnprop-mnist", "dm-mnist", "dm-cnn", "adam", "rmsprop", "sgd"]


def state_variants(inner):
    """(what, a damaged copy of inner) for each entry: missing, renamed, reshaped, retyped, NaN,
    Inf, a list, a negative or huge step count."""
    for where in key_paths(inner, True):
        value = node_at(inner, where)
        if hasattr(value, "shape"):
            host = to_numpy(value)
            changes = {"reshaped": asarray(np.zeros(host.shape + (1,)), "float32"),
                       "shorter": asarray(host.reshape(-1)[:-1]),
                       "float64": asarray(host, "float64"), "int": asarray(host.astype(np.int64)),
                       "list": host.tolist(), "nan": asarray(np.full_like(host, np.nan)),
                       "inf": asarray(np.full_like(host, np.inf)), "none": None}
        else:
            changes = {"negative": -1, "float": 1.5, "huge": 2 ** 60, "string": "3",
                       "none": None, "array": asarray(np.zeros(1), "float32")}
        for what, new in changes.items():
            yield f"{'/'.join(where)} {what}", replaced(inner, where, new)
        yield f"{'/'.join(where)} missing", replaced(inner, where, None, remove=True)
        renamed = replaced(inner, where, None, remove=True)
        node_at(renamed, where[:-1])[where[-1] + "_"] = value
        yield f"{'/'.join(where)} renamed", renamed


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_states_with_each_entry_damaged_are_refused_and_change_nothing(name):
    opt, p = minil2o.pretrained(name), params()
    grads = [xp.ones_like(a) for a in p]
    _, state = opt.update(grads, opt.init(p), p)
    before = {w: to_numpy(node_at(state.inner, w)).copy() for w in key_paths(state.inner, True)}
    count = 0
    for what, inner in state_variants(state.inner):
        with pytest.raises(UsageError) as info:
            opt.update(grads, State(inner, state.layout, state.optimizer), p)
        one_line(info, "state")
        count += 1
    assert count >= 8 * len(before)
    for w, v in before.items():                             # the state handed in is unchanged
        np.testing.assert_array_equal(to_numpy(node_at(state.inner, w)), v)
    new, again = opt.update(grads, State(replaced(state.inner, (), None), state.layout, ""), p)
    expected, _ = opt.update(grads, state, p)               # an intact copy is taken, and equal
    for a, b in zip(new, expected):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b))


def structure(inner):
    """A state's keys, with each array's shape and dtype (what check_state compares)."""
    return {k: structure(v) if isinstance(v, dict) else
            (tuple(v.shape), str(v.dtype)) if hasattr(v, "shape") else "number"
            for k, v in inner.items()}


@pytest.mark.parametrize("maker", OPTIMIZERS)
@pytest.mark.parametrize("user", OPTIMIZERS)
def test_the_state_of_another_optimizer_is_refused(maker, user):
    """A state names its maker: another optimizer's is refused. One without a name (made by hand)
    is refused when its structure differs, and taken when nothing tells them apart."""
    p = params()
    state, opt = minil2o.pretrained(maker).init(p), minil2o.pretrained(user)
    grads = [xp.ones_like(a) for a in p]
    if maker == user:
        opt.update(grads, state, p)
        return
    with pytest.raises(UsageError) as info:
        opt.update(grads, state, p)
    one_line(info, "state was made by", maker, user)
    unnamed = State(state.inner, state.layout)
    if structure(state.inner) == structure(opt.init(p).inner):
        opt.update(grads, unnamed, p)
    else:
        with pytest.raises(UsageError) as info:
            opt.update(grads, unnamed, p)
        one_line(info, "state")


def test_a_state_for_other_arrays_or_not_a_state_is_refused():
    opt, p = minil2o.pretrained("rnnprop-mnist"), params()
    state = opt.init(p)
    other = [asarray(np.ones(5), "float32")]
    for bad in (State(state.inner, opt.init(other).layout, state.optimizer),
                State(state.inner, None, state.optimizer), {"h1": 1}, None, state.inner):
        with pytest.raises(UsageError) as info:
            opt.update([xp.ones_like(a) for a in p], bad, p)
        one_line(info, "state")


def test_check_state_the_function_shared_with_the_torch_adapter():
    fresh = {"h1": xp.zeros((3, 2), dtype=xp.float32), "t": 0, "g": {"m": xp.zeros((3,),
                                                                                dtype=xp.float32)}}
    loader.check_state(replaced(fresh, (), None), fresh)
    for what, bad in state_variants(fresh):
        with pytest.raises(UsageError) as info:
            loader.check_state(bad, fresh, "the saved state")
        one_line(info, "the saved state")


# ======================================================================= the path rule
def test_a_path_that_exists_is_a_path_and_a_bare_name_is_shipped(tmp_path, monkeypatch, dm_file):
    path, arrays, _ = dm_file
    monkeypatch.chdir(tmp_path)
    shipped = load_optimizer(minil2o.use.dropin.PRETRAINED_DIR / "dm-mnist.npz").phi
    run = tmp_path / "dm-mnist"
    run.mkdir()
    with pytest.raises(UsageError) as info:                 # a folder without optimizer.npz
        minil2o.pretrained(Path("dm-mnist"))
    one_line(info, "'dm-mnist'", "folder without optimizer.npz", "dm-mnist.npz")
    with pytest.raises(UsageError):
        minil2o.pretrained("dm-mnist")
    path.rename(run / "optimizer.npz")
    for given in (Path("dm-mnist"), "dm-mnist", "./dm-mnist", run, str(run / "optimizer.npz")):
        opt = minil2o.pretrained(given)._make("float32")
        assert opt.hidden == 4 and set(opt.phi) == {k[4:] for k in arrays}, given  # the run
    (run / "optimizer.npz").rename(tmp_path / "elsewhere.npz")
    run.rmdir()
    bare = minil2o.pretrained("dm-mnist")._make("float32").phi      # no such folder: shipped
    assert all(np.array_equal(to_numpy(bare[k]), to_numpy(v)) for k, v in shipped.items())
    for missing in (Path("dm-mnist"), Path("nowhere.npz"), tmp_path / "nope"):
        with pytest.raises(UsageError) as info:
            minil2o.pretrained(missing)
        one_line(info, "not found", "always a path")
    Path("odd").symlink_to("nowhere")                       # a dangling link: a path, not found
    with pytest.raises(UsageError):
        minil2o.pretrained("odd")


def test_the_command_line_prints_one_line_for_a_bad_optimizer_file(dm_file, capsys):
    path, arrays, meta = dm_file
    variants = {"int": {**arrays, "phi/Wout": arrays["phi/Wout"].astype(np.int64)},
                "overflow": {**arrays, "phi/b1": np.full(arrays["phi/b1"].shape, 1e300)}}
    for what, bad in variants.items():
        write_raw(path, bad, meta)
        code, _, err = run_cli(capsys, "evaluate", path, "--baselines", "sgd",
                               "--out", path.parent / "ev")
        assert code == 2, what
        assert_one_line(err, "optimizer.npz", "phi/")
    write_raw(path, arrays, {**meta, "format_version": 999})
    code, _, err = run_cli(capsys, "evaluate", path, "--baselines", "sgd")
    assert code == 2
    assert_one_line(err, "format_version", "999")


# -- the torch adapter's load_state_dict (runs where torch is installed) ----------------------------
def torch_state_variants(torch, good):
    """Hostile state dicts made from a good one: every float tensor poisoned with NaN or Inf in
    turn, another optimizer's state, the structure broken."""
    def poisoned(value, path):
        out, seen = copy.deepcopy(good), [0]

        def walk(x):
            if isinstance(x, dict):
                return {k: walk(v) for k, v in x.items()}
            if torch.is_tensor(x) and x.is_floating_point() and x.numel():
                seen[0] += 1
                if seen[0] == path:
                    x = x.clone()
                    x.view(-1)[0] = value
            return x
        return walk(out), seen[0]
    _, count = poisoned(0.0, 0)
    for k in range(1, count + 1):
        for value in (float("nan"), float("inf"), -float("inf")):
            yield f"tensor {k} = {value}", poisoned(value, k)[0]
    yield "no param_groups", {"state": good["state"]}
    yield "state not a dict", {"state": [], "param_groups": good["param_groups"]}
    yield "not a dict", [good]


@pytest.mark.parametrize("name", ["rnnprop-mnist", "dm-mnist", "adam"])
def test_torch_load_state_dict_refuses_and_keeps_its_state(name):
    torch = pytest.importorskip("torch")
    import minil2o.torch as adapter

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2))
    opt = adapter.LearnedOptimizer(model.parameters(), name)

    def step():
        opt.zero_grad()
        model(torch.ones(5, 4)).pow(2).mean().backward()
        opt.step()
    for _ in range(2):
        step()
    good = copy.deepcopy(opt.state_dict())
    foreign = {"state": {0: {"step": torch.tensor(1.0), "exp_avg": torch.zeros(3, 4),
                             "exp_avg_sq": torch.zeros(3, 4)}}, "param_groups": good["param_groups"]}
    variants = list(torch_state_variants(torch, good)) + [("torch.optim.Adam's state", foreign)]
    assert len(variants) > 5
    for label, bad in variants:
        before = repr(opt.state_dict())
        with pytest.raises(UsageError) as refused:
            opt.load_state_dict(bad)
        assert "\n" not in str(refused.value), label
        assert repr(opt.state_dict()) == before, f"{label}: the state changed"
        step()                                                  # it still steps
    opt.load_state_dict(good)
    step()
