"""Running one experiment's panels: the problem families of each panel (tuning and test splits),
the comparison of minil2o.evaluation.evaluate with the curves cached on disk, and the numbers it writes
(JSON). Both papers' experiments run through here."""
import hashlib
import io
import json
import os
import stat
import time
import zipfile

import numpy as np

from ..backend import to_numpy
from ..files.atomic import atomic_file
from ..files.bounded import read_bounded
from ..files.checkpoint import read_npy_header
from ..evaluation.evaluate import (CRITERIA, CompareSettings, compare,
                                   final_batches as batches_for, learning_curves)
from ..optimizers.hand import HAND_OPTIMIZERS, HandOptimizer
from ..evaluation.plots import plot_final, plot_panels
from ..problems import family_entry, make_family
from .spec import ART_TEST_CONTENT, ART_TRAIN_CONTENT
from ..evaluation.statistics import paired_to_learned
from ..validate import read_limit


def default_grid(name):
    """The learning rates tried for baseline `name`: its lr_grid (powers of two), for SGD and NAG
    extended by three more powers upward (on the MNIST MLP their best rates, 1 to 4, sit at or
    above the top of the Torch-style grid)."""
    grid = HAND_OPTIMIZERS[name].lr_grid
    return grid + tuple(grid[-1] * 2.0 ** k for k in (1, 2, 3)) if name in ("sgd", "nag") else grid


def panel_kwargs(panel, split, cifar_dir):
    """The family keyword arguments of a panel for data split `split` ('validation' for tuning,
    'test' for the test problems; passed to the families with data splits, as the table
    minil2o.problems.FAMILIES says); returns (kwargs, label). Neural art's contents are chosen by
    split here, not in the table: which images are held out is this experiment's protocol (spec),
    and training takes the contents its settings name."""
    kwargs, label = dict(panel.kwargs or {}), panel.label       # None: a CIFAR-10-only panel
    if panel.cifar is not None:
        if cifar_dir:
            kwargs = {**panel.cifar, "data_dir": cifar_dir}
        else:
            label += " [MNIST stand-in for CIFAR-10]"
    kwargs.update(family_entry(panel.problem).split_settings(split))
    if panel.problem == "neural-art":
        kwargs["content_images"] = art_contents(art_content_names(split))
    return kwargs, label


def art_content_names(split):
    """The bundled images (kind/name) neural art takes its content from, by split: the held-out
    ones for testing, the training ones for tuning."""
    return list(ART_TEST_CONTENT) if split == "test" else [f"content/{k}" for k in ART_TRAIN_CONTENT]


def art_contents(names):
    """The bundled images named kind/name (minil2o/datasets/images) as a list of host arrays."""
    from ..problems.art import load_art_images
    bundled = dict(zip(("content", "style"), load_art_images()))
    return [bundled[kind][name] for kind, name in (n.split("/") for n in names)]


def optimizer_digest(opt):
    """A short fingerprint of a learned optimizer's parameters (the cache key of its curves)."""
    h = hashlib.sha1(json.dumps(opt.config(), sort_keys=True).encode())
    for k in sorted(opt.phi):
        h.update(np.ascontiguousarray(to_numpy(opt.phi[k]), dtype=np.float32).tobytes())
    return h.hexdigest()[:16]


def optimizer_key(opt):
    """What an optimizer is, as JSON: a baseline's name and learning rate, a learned one's digest."""
    if isinstance(opt, HandOptimizer):
        return {"baseline": opt.name, "lr": opt.lr}
    return {"learned": optimizer_digest(opt)}


class StaleEntry(ValueError):
    """A cache entry intact but not for these settings (or from before checksummed entries)."""


CACHE_FORMAT, CACHE_VERSION = "minil2o-curve-cache", 1
CACHE_MEMBERS = ("curves.npy", "meta.npy")


def as_json(value):
    """value as canonical JSON text (so that 1, 1.0 and true differ, as in the entry's name)."""
    return json.dumps(value, sort_keys=True)


def curves_checksum(curves, settings):
    """sha256 of the curves' dtype, shape and bytes and of the settings they were computed with."""
    digest = hashlib.sha256(as_json([curves.dtype.str, list(curves.shape), settings]).encode())
    digest.update(np.ascontiguousarray(curves).tobytes())
    return digest.hexdigest()


def write_entry(path, curves, settings):
    """Write a cache entry (an .npz archive: the curves and a JSON `meta` holding the format,
    the settings, dtype, shape and curves_checksum) atomically: whole or not at all."""
    curves = np.ascontiguousarray(to_numpy(curves))
    meta = {"format": CACHE_FORMAT, "version": CACHE_VERSION, "settings": settings,
            "dtype": curves.dtype.str, "shape": list(curves.shape),
            "sha256": curves_checksum(curves, settings)}
    blob = np.frombuffer(as_json(meta).encode(), dtype=np.uint8)
    with atomic_file(path) as fh:
        np.savez(fh, curves=curves, meta=blob)


def entry_arrays(raw):
    """The arrays of a cache entry's bytes, each member's .npy header checked (no objects, a shape
    that fits its bytes, declared sizes within read_limit()) before numpy reads it."""
    if raw[:6] == b"\x93NUMPY":
        raise StaleEntry("a bare array without checksum or settings, written before entries "
                         "carried them")
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        infos = archive.infolist()
        names = sorted(info.filename for info in infos)
        if names != list(CACHE_MEMBERS):
            raise ValueError(f"it holds {names}, not {list(CACHE_MEMBERS)}")
        if sum(info.file_size for info in infos) > read_limit():
            raise ValueError("its members declare more than the limit (MINIL2O_MAX_READ_BYTES)")
        for info in infos:
            with archive.open(info) as fh:
                read_npy_header(fh, info.file_size, f"member {info.filename!r}")
    with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
        return npz["curves"], npz["meta"]


def entry_meta(blob):
    """The JSON metadata of a cache entry, checked for its format and version."""
    if blob.dtype != np.uint8 or blob.ndim != 1:
        raise ValueError(f"its meta is {blob.dtype} of shape {blob.shape}, not JSON bytes")
    meta = json.loads(blob.tobytes().decode("utf-8"))
    if not isinstance(meta, dict) or meta.get("format") != CACHE_FORMAT:
        raise ValueError(f"its meta is not a {CACHE_FORMAT} header")
    if meta.get("version") != CACHE_VERSION:
        raise StaleEntry(f"format version {meta.get('version')!r}, not {CACHE_VERSION}")
    return meta


def read_entry(path, settings, columns):
    """The curves in cache entry `path` if it proves itself: written for exactly `settings`, its
    checksum matching, float64 of shape (problems >= 1, columns). Otherwise a ValueError saying
    why (StaleEntry: intact but for other settings or from an older format)."""
    curves, blob = entry_arrays(read_bounded(path, "cache entry"))
    meta = entry_meta(blob)
    if as_json(meta.get("settings")) != as_json(settings):
        stored = meta.get("settings") if isinstance(meta.get("settings"), dict) else {}
        field = next((k for k in settings if as_json(stored.get(k)) != as_json(settings[k])),
                     "settings")
        raise StaleEntry(f"computed with other settings: {field} {as_json(stored.get(field))[:80]}"
                         f", not {as_json(settings.get(field))[:80]}")
    if [meta.get("dtype"), meta.get("shape")] != [curves.dtype.str, list(curves.shape)] \
            or meta.get("sha256") != curves_checksum(curves, settings):
        raise ValueError("its checksum does not match its curves")
    if curves.dtype != np.float64 or curves.ndim != 2 or curves.shape[1:] != (columns,) \
            or not curves.shape[0]:
        raise ValueError(f"holds {curves.dtype} of shape {curves.shape}, not float64 of shape "
                         f"(problems, {columns})")
    return curves


class CurveCache:
    """learning_curves with the results kept in memory and in `folder` ('' keeps them in memory
    only), keyed by the optimizer (optimizer_key), the family (its description), the steps, the
    seed and the minibatches evaluated after the last step. A file with at least as many problems
    serves a smaller count: problem i depends only on (seed, i). Families must be described.

    An entry (FOLDER/NAME.npy, NAME a hash of the key; the name the unchecked .npy entries of
    before had, so that such an entry is found and replaced) is an .npz archive written whole or
    not at all (write_entry): the curves, and the settings they were computed with and a sha256
    of both. It is used only if it proves itself (read_entry); anything else (unreadable, cut
    short, another dtype or shape, a checksum or settings that differ, an older entry without
    checksum) is reported in one warning line and recomputed, never used."""

    def __init__(self, folder, log=print):
        self.folder, self.described, self.kept, self.log = folder, {}, {}, log

    def describe(self, family, description):
        """Register `family` under a JSON-able description (its part of the key); returns it."""
        self.described[id(family)] = (family, description)
        return family

    def settings(self, family, optimizer, steps, seed, final_batches=0):
        """The key of a call by field (JSON round-tripped, as an entry stores it) and its name."""
        description, optimizer = self.described[id(family)][1], optimizer_key(optimizer)
        key = as_json([optimizer, *description, steps, seed]
                      + ([final_batches] if final_batches else []))
        settings = json.loads(as_json({"optimizer": optimizer, "family": description,
                                       "steps": steps, "seed": seed,
                                       "final_batches": final_batches}))
        return settings, hashlib.sha1(key.encode()).hexdigest()[:16]

    def entry_path(self, family, optimizer, steps, seed, final_batches=0):
        """The file of a call's entry in the folder."""
        name = self.settings(family, optimizer, steps, seed, final_batches)[1]
        return os.path.join(self.folder, f"{name}.npy")

    def read(self, path, settings, columns):
        """read_entry, or None when there is no entry or it does not prove itself (warned)."""
        if not os.path.lexists(path):
            return None
        limit = read_limit()                           # a bad MINIL2O_MAX_READ_BYTES: refused
        try:
            found = os.stat(path)
            if not stat.S_ISREG(found.st_mode):                 # a FIFO would hang a read
                raise ValueError("not a regular file")
            if found.st_size > limit:
                raise ValueError(f"{found.st_size} bytes, more than the read limit of {limit} "
                                 "(MINIL2O_MAX_READ_BYTES)")
            return read_entry(path, settings, columns)
        except Exception as e:      # any fault reading an entry (zipfile, numpy's header parser
            # raise struct.error, tokenize.TokenError...): the entry is not used
            state = "is stale" if isinstance(e, StaleEntry) else "is damaged"
            reason = " ".join(str(e).split())
            if not isinstance(e, (ValueError, OSError)) or not reason:
                reason = f"{type(e).__name__}: {reason}".rstrip(": ")
            self.log(f"warning: cache entry {path} {state} ({reason}): recomputing it")
            return None

    def __call__(self, family, optimizer, num, steps, seed, final_batches=0):
        settings, name = self.settings(family, optimizer, steps, seed, final_batches)
        kept = self.kept.get(name)
        if kept is not None and kept.shape[0] >= num:
            return kept[:num]
        path = self.entry_path(family, optimizer, steps, seed, final_batches)
        cached = self.read(path, settings, steps + 1 + final_batches) if self.folder else None
        if cached is not None and cached.shape[0] >= num:
            return cached[:num]
        result = learning_curves(family, optimizer, num, steps, seed, final_batches)
        self.kept[name] = result
        if self.folder:
            write_entry(path, result, settings)
        return result


class Runner:
    """Runs optimizers on the panels of one experiment, caching curves in args.cache."""

    def __init__(self, exp, args, log=print):
        self.exp, self.args, self.log = exp, args, log
        self.seed, self.cache = args.seed, CurveCache(args.cache, log)
        self.families = {}
        self.batches = max(batches_for(c) for c in exp.criteria)

    def curves(self, family, optimizer, num, steps, seed, final_batches=0):
        """The cached curves, every run evaluated on the minibatches the experiment's criteria
        need (so the criteria share one run), cut to the `final_batches` asked for."""
        full = self.cache(family, optimizer, num, steps, seed, self.batches)
        return full[:, :steps + 1 + final_batches]

    def family(self, panel, split):
        """The problem family of a panel for a split, built once."""
        key = (panel.label, split)
        if key not in self.families:
            kwargs, _ = panel_kwargs(panel, split, self.args.cifar_dir)
            family = make_family(panel.problem, **kwargs)
            if "content_images" in kwargs:
                kwargs["content_images"] = art_content_names(split)    # named in the cache key
            self.families[key] = self.cache.describe(family, [panel.problem, kwargs, split])
        return self.families[key]

    def run_panel(self, panel, learned, criterion, baselines=None):
        """minil2o.evaluation.evaluate.compare on one panel for one criterion: the baselines
        (default: the experiment's) tuned for it on the validation split over their grids, coarse
        to fine (extended while the best rate is at an edge), then everything on the test
        problems. learned: dict label -> optimizer."""
        exp = self.exp
        baselines = exp.baselines if baselines is None else baselines
        grids = {name: exp.grids.get(name, default_grid(name)) for name in baselines}
        settings = CompareSettings(exp.steps, exp.num_test, exp.num_tune, self.seed, grids,
                                   criterion, exp.extend, exp.stride)
        results = compare(self.family(panel, "test"), learned, baselines, settings,
                          tune_family=self.family(panel, "validation") if baselines else None,
                          curves=self.curves,
                          log=lambda message: self.log(f"  {panel.label}: {message}"))
        for label, r in results.items():
            if r["lr"] is not None and not r["tuning"]["interior"]:
                self.log(f"  note: the best {label} learning rate {r['lr']:g} is still at the "
                         f"edge of its grid after {exp.extend} extensions")
        return results


def rounded(values):
    """Host floats rounded to 5 significant digits (NaN becomes None, which JSON can hold)."""
    return [None if not np.isfinite(v) else float(f"{v:.5g}") for v in np.asarray(values, float)]


def logged_steps(steps, limit=400):
    """The steps whose mean and standard error the JSON keeps: all of them up to `limit`, else
    `limit` + 1 evenly spaced (the last step always included)."""
    if steps <= limit:
        return np.arange(steps + 1)
    return np.unique(np.linspace(0, steps, limit + 1).round().astype(int))


def value_summary(values):
    """Mean and standard error of per-problem scores (N,) over the finished problems (NaN:
    diverged), rounded, with the per-problem values (None where diverged)."""
    ok = np.asarray(values, float)[np.isfinite(values)]
    mean = float(ok.mean()) if len(ok) else np.nan
    stderr = float(ok.std(ddof=1) / np.sqrt(len(ok))) if len(ok) > 1 else np.nan
    return {"value_mean": rounded([mean])[0], "value_stderr": rounded([stderr])[0],
            "per_problem": rounded(values)}


def criterion_numbers(results, learned):
    """Per optimizer, for one criterion: the learning rate and its tuning record, the score on each
    test problem, their mean and standard error, diverged runs, and the paired difference to each
    learned optimizer (statistics.paired_difference). learned: the learned optimizers' labels."""
    paired = paired_to_learned({label: r["values"] for label, r in results.items()}, learned)
    out = {}
    for label, r in results.items():
        out[label] = {"lr": r["lr"], **value_summary(r["values"]),
                      "diverged": int(np.isnan(r["values"]).sum()), "paired": paired[label]}
        if "tuning" in r:
            out[label]["tuning"] = r["tuning"]
    return out


def panel_numbers(by_criterion, steps, learned):
    """The JSON-able summary of one panel. by_criterion: dict criterion -> compare's results, the
    panel's criterion first. Per optimizer (for that first criterion) the learning rate, the mean
    and standard error of the loss at the final step, the number of diverged runs, the curves at
    logged_steps, and criterion_numbers ('per_problem' named 'final_per_problem'); the further
    criteria under "criteria" (criterion_numbers each)."""
    at, (main, results), *others = logged_steps(steps), *by_criterion.items()
    out, scored = {}, criterion_numbers(results, learned)
    for label, r in results.items():
        out[label] = {"lr": r["lr"], "final_mean": rounded([r["mean"][-1]])[0],
                      "final_stderr": rounded([r["stderr"][-1]])[0], "diverged": r["diverged"],
                      "num_runs": int(r["curves"].shape[0]),
                      "mean": rounded(r["mean"][at]), "stderr": rounded(r["stderr"][at])}
        if "grid_scores" in r:
            out[label]["grid"] = {f"{lr:g}": rounded([s])[0] for lr, s in r["grid_scores"].items()}
        extra = scored[label]
        extra["final_per_problem"] = extra.pop("per_problem")
        extra["diverged_by_criterion"] = extra.pop("diverged")
        out[label].update(extra)
    return {"steps": at.tolist(), "criterion": main, "optimizers": out,
            "criteria": {name: criterion_numbers(r, learned) for name, r in others}}


def format_final(label, results, seconds):
    """Text table of the final loss per optimizer, best first."""
    lines = [f"{label} ({seconds:.0f} s):"]
    for name, r in sorted(results.items(), key=lambda kv: np.nan_to_num(kv[1]["mean"][-1], nan=1e30)):
        lr = "" if r["lr"] is None else f" (lr {r['lr']:g})"
        lines.append(f"  {name + lr:<58} {r['mean'][-1]:.4g} +- {r['stderr'][-1]:.2g}"
                     f"  diverged {r['diverged']}")
    return "\n".join(lines)


def run_comparison(exp, runner, learned, out_dir):
    """Every panel's comparison for each of the experiment's criteria, and the figure: learning
    curves per panel ('curves', 'art'; the panels again, beside them, for a further criterion) or
    the final scores side by side ('final'). Returns the JSON part {"criteria", "panels"}."""
    drawn, numbers = {c: [] for c in exp.criteria}, []
    for panel in exp.panels:
        start = time.time()
        label = panel_kwargs(panel, "test", runner.args.cifar_dir)[1]
        by_criterion = {c: runner.run_panel(panel, learned, c) for c in exp.criteria}
        for c, results in by_criterion.items():
            tuned = f"\n(baselines tuned for the {c} loss)" if len(exp.criteria) > 1 else ""
            drawn[c].append((label + tuned, results))
        numbers.append({"label": label, "problem": panel.problem, "kwargs": panel.kwargs,
                        **panel_numbers(by_criterion, exp.steps, list(learned))})
        runner.log(format_final(label, by_criterion[exp.criteria[0]], time.time() - start))
    plot = plot_final if exp.kind == "final" else plot_panels
    plot([p for c in exp.criteria for p in drawn[c]], os.path.join(out_dir, f"{exp.name}.png"),
         f"{exp.source}: {exp.name}")
    return {"criteria": {c: CRITERIA[c] for c in exp.criteria}, "panels": numbers}
