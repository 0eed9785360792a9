"""`minil2o bench` runs and writes well-formed JSON (never timing thresholds: speed is measured by
the benchmark, not asserted), and on a GPU the fused CuPy LSTM kernels agree with the plain layers."""
import json

import numpy as np
import pytest

import minil2o
from minil2o import cli
from minil2o.backend import asarray, to_numpy
from minil2o.errors import UsageError
from minil2o.lstm import lstm_step_backward, lstm_step_forward


def cupy_or_skip():
    """Select the cupy backend, or skip saying why (no CuPy, or no CUDA GPU)."""
    try:
        minil2o.set_backend("cupy")
    except UsageError as e:
        pytest.skip(f"needs a CUDA GPU with CuPy: {e}")


def test_bench_quick_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = cli.main(["bench", "--quick", "--horizon", "4", "--unroll", "2", "--sizes", "100,1000",
                     "--unrolls", "2,3", "--no-torch", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "coord-steps/s" in printed and "target:" in printed
    report = json.loads(out.read_text())
    assert set(report) == {"machine", "settings", "results", "dropin", "targets"}
    cases = {r["case"] for r in report["results"]}
    assert {"meta-epoch quadratic", "meta-epoch mnist-mlp", "coordinates",
            "truncation mnist-mlp"} <= cases
    for row in report["results"]:
        assert row["optimizer"] in ("dm", "rnnprop") and row["coords"] > 0
        assert row["seconds"] > 0 and row["coord_steps_per_s"] > 0
        if row["case"] in ("coordinates", "truncation mnist-mlp"):
            assert row["peak_bytes"] > 0
    names = [t["target"] for t in report["targets"]]
    assert any("linear" in name for name in names) and any("GPU" in name for name in names)
    per_step = [t for t in report["targets"]
                if t["target"].startswith("memory per coordinate-step")]
    sweep = [r["bytes_per_coord_step"] for r in report["results"]
             if r["case"] == "truncation mnist-mlp" and r["optimizer"] == "dm"]
    assert per_step and per_step[0]["value"] == max(sweep) and per_step[0]["bound"] == "<= 1400"


def test_bench_rejects_bad_sizes(capsys):
    assert cli.main(["bench", "--quick", "--sizes", "ten"]) == 2
    assert "--sizes" in capsys.readouterr().err
    assert cli.main(["bench", "--quick", "--dropin-sizes", "0"]) == 2
    assert "--dropin-sizes" in capsys.readouterr().err
    assert cli.main(["bench", "--quick", "--cases", "dropin,speed"]) == 2
    assert "--cases 'dropin,speed'" in capsys.readouterr().err


def test_bench_dropin_case_reports_each_contender_and_the_ratios(tmp_path, capsys):
    """The drop-in case alone at two tiny sizes: a row per size with every contender's time per
    step and per coordinate, or why it was not run (PyTorch missing, or --no-torch), the ratios of
    those that ran, and its two targets, read at 1e5 coordinates: not measured here."""
    from minil2o.bench.dropin import TORCH_COLUMNS
    try:
        import torch  # noqa: F401
        missing = None
    except ImportError:
        missing = "not installed"
    for flags, why in (([], missing), (["--no-torch"], "--no-torch")):
        out = tmp_path / "dropin.json"
        assert cli.main(["bench", "--cases", "dropin", "--dropin-sizes", "40,300", "--repeat", "1",
                         "--out", str(out), *flags]) == 0
        printed = capsys.readouterr().out
        assert "drop-in step (rnnprop-mnist)" in printed and "/ module" in printed
        report = json.loads(out.read_text())
        assert report["results"] == [] and report["settings"]["cases"] == ["dropin"]
        assert [r["coords"] for r in report["dropin"]] == [40, 300]
        for row in report["dropin"]:
            ran = row["contenders"]
            for name in ("drop-in", "meta forward", "drop-in adam"):
                assert ran[name]["seconds"] > 0
                assert ran[name]["us_per_coord"] == pytest.approx(1e6 * ran[name]["seconds"]
                                                                  / row["coords"])
            for name in TORCH_COLUMNS:
                assert ("seconds" in ran[name]) == (why is None)
                assert why is None or why in ran[name]["skipped"]
            assert row["ratios"]["drop-in / meta forward"] == pytest.approx(
                ran["drop-in"]["seconds"] / ran["meta forward"]["seconds"])
            assert ("drop-in / torch module" in row["ratios"]) == (why is None)
        checks = [t for t in report["targets"] if t["target"].startswith("drop-in")]
        assert len(checks) == 2 and all(t["met"] is None for t in checks)
        assert {t["bound"] for t in checks} == {"<= 0.7", "<= 1.2"}


@pytest.mark.parametrize("N", [37, 2 * 16384 + 5])      # the second splits the weight gradients
@pytest.mark.parametrize("dtype, tol", [("float64", 1e-12), ("float32", 1e-5)])
def test_fused_cupy_lstm_step_matches_plain_layers(dtype, tol, N):
    cupy_or_skip()
    from minil2o.kernels import fused_lstm_step_backward, fused_lstm_step_forward
    rng = np.random.default_rng(0)
    D, H = 3, 5
    arrays = [asarray(rng.standard_normal(shape), dtype=dtype) for shape in
              ((N, D), (N, H), (N, H), (D, 4 * H), (H, 4 * H), (4 * H,), (N, H), (N, H))]
    x, h_prev, c_prev, Wx, Wh, b, dh, dc = arrays
    h, c, cache = lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b)
    h2, c2, cache2 = fused_lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b)
    plain = [h, c] + list(lstm_step_backward(dh, dc, cache))
    fused = [h2, c2] + list(fused_lstm_step_backward(dh, dc, cache2))
    for a, b_ in zip(plain, fused):
        a, b_ = to_numpy(a), to_numpy(b_)
        assert np.linalg.norm(a - b_) / (np.linalg.norm(a) + np.linalg.norm(b_)) < tol


@pytest.mark.parametrize("N", [5, 16, 37])
def test_chunked_tall_product_on_the_gpu(N):
    cupy_or_skip()
    from minil2o.kernels import tall_product
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((N, 3)), rng.standard_normal((N, 4))
    got = to_numpy(tall_product(asarray(a, dtype="float64"), asarray(b, dtype="float64"), rows=8))
    np.testing.assert_allclose(got, a.T @ b, rtol=1e-12, atol=1e-12)


def test_the_backend_chooses_the_lstm_step():
    """The fused kernels on the cupy backend unless switched off for a block, the reference
    lstm_step_forward / lstm_step_backward everywhere else; leaving a block restores the choice."""
    from minil2o.backend import use_fused_kernels
    from minil2o.kernels import fused_lstm_step_backward, fused_lstm_step_forward
    from minil2o.lstm import lstm_step_functions
    plain = (lstm_step_forward, lstm_step_backward)
    default = (fused_lstm_step_forward, fused_lstm_step_backward) \
        if minil2o.get_backend() == "cupy" else plain
    assert lstm_step_functions() == default
    with use_fused_kernels(False):
        assert lstm_step_functions() == plain
        with use_fused_kernels(True):
            assert lstm_step_functions() == default
        assert lstm_step_functions() == plain
    assert lstm_step_functions() == default
