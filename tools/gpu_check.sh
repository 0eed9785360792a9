#!/usr/bin/env bash
# The GPU measurements of docs/BENCHMARKS.md in one run, about 8 minutes on one H100/H200:
#   1. the tests that touch the LSTM step, the meta-gradient and the benchmark, under cupy
#   2. the DM optimizer's step on a meta-batch of 64 MNIST MLPs (n = 1,018,240), part by part:
#      the optimizee, the step forward and backward, and inside the backward each kernel and
#      product of one LSTM layer (fused kernel, da Wx^T, da Wh^T, x^T da, h^T da, sum) and the rest
#   3. MINIL2O_BACKEND=cupy minil2o bench --optimizers dm (with the per-step breakdown)
#   4. a short meta-batch training run (problems per hour in its epoch line)
# Everything is written to $OUT (default runs/gpu_check): at most 8 files.
#
#   bash tools/gpu_check.sh              # from the repository root, on a machine with CuPy
set -u
OUT=${OUT:-runs/gpu_check}
mkdir -p "$OUT"
export MINIL2O_BACKEND=cupy OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
log() { echo "== $* ($(date -u +%H:%M:%S))" | tee -a "$OUT/summary.txt"; }

log "machine"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python -c "import cupy, numpy; print('cupy', cupy.__version__, 'numpy', numpy.__version__)"
  python -c "import torch; print('torch', torch.__version__, torch.cuda.is_available())" 2>&1 | tail -1
  uptime; } 2>&1 | tee -a "$OUT/summary.txt"
if ! python -c "import cupy; cupy.zeros(1)" 2>/dev/null; then
  log "no working CuPy here: nothing measured"; exit 1
fi

log "1. tests under cupy"
timeout 200 python -m pytest -q tests/test_bench.py tests/test_fast_lstm.py tests/test_layers.py \
  tests/test_learned.py tests/test_meta.py tests/test_mlp_batch.py > "$OUT/tests_cupy.txt" 2>&1
echo "exit $?: $(tail -1 "$OUT/tests_cupy.txt")" | tee -a "$OUT/summary.txt"

log "2. the DM step on 64 MNIST MLPs, part by part"
timeout 120 python - > "$OUT/profile.txt" 2>&1 <<'EOF'
import time
import numpy as np
from minil2o.backend import use_fused_kernels, xp
from minil2o.kernels import cupy_cell_kernels, tall_product
from minil2o.problems import make_family
from minil2o.bench.throughput.timing import synchronize
from minil2o.training.factories import build_optimizer

def ms(fn, repeat=10):
    fn(); synchronize()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter(); fn(); synchronize(); best = min(best, time.perf_counter() - t)
    return 1e3 * best

rng = np.random.default_rng(0)
problem = make_family("mnist-mlp").sample_many(rng, 64)
opt = build_optimizer("dm", output_scale=0.1)
phi, n = opt.init_params(rng), problem.n
theta, state = problem.init(rng), opt.init_state(n)
batch = problem.sample_batch(rng)
f, grad = problem.loss_and_grad(theta, batch)
d_update, d_state = xp.ones_like(grad) * 1e-3, {k: xp.zeros_like(v) for k, v in state.items()}
print(f"n = {n} coordinates, hidden 20, 2 layers (minimum of 10 calls, ms)")
print(f"optimizee loss and gradient        {ms(lambda: problem.loss_and_grad(theta, batch)):8.2f}")
for fused in (True, False):
    with use_fused_kernels(fused):
        _, _, cache = opt.step_forward(phi, grad, state)
        name = "fused" if fused else "plain xp"
        print(f"step forward ({name:8})             {ms(lambda: opt.step_forward(phi, grad, state)):8.2f}")
        print(f"step backward ({name:8})            "
              f"{ms(lambda: opt.step_backward(phi, d_update, d_state, cache)):8.2f}")
_, _, (g, readout, caches) = opt.step_forward(phi, grad, state)     # fused caches
for layer, c in enumerate(caches, 1):
    x, h_prev, c_prev, Wx, Wh, i, f_, o, g_, tanh_c = c
    gates = i.base
    da, dc_prev = xp.empty_like(gates), xp.empty_like(tanh_c)
    dh = dc = xp.ones_like(tanh_c) * 1e-3
    kernel = cupy_cell_kernels()["backward"]
    parts = {"cell kernel (da, dc_prev)": lambda: kernel(gates, c_prev, tanh_c, dh, dc, 20, da, dc_prev),
             "da Wx^T": lambda: da @ Wx.T, "da Wh^T": lambda: da @ Wh.T,
             "x^T da (tall_product)": lambda: tall_product(x, da),
             "h^T da (tall_product)": lambda: tall_product(h_prev, da),
             "x^T da (one GEMM)": lambda: x.T @ da, "sum_rows da": lambda: xp.sum(da, axis=0),
             "ascontiguousarray(gates)": lambda: xp.asarray(gates, copy=True)}
    for name, fn in parts.items():
        print(f"layer {layer}: {name:28} {ms(fn):8.2f}")
EOF
echo "exit $?" | tee -a "$OUT/summary.txt"; cat "$OUT/profile.txt" | tee -a "$OUT/summary.txt"

log "3. minil2o bench --optimizers dm"
timeout 300 python -m minil2o bench --optimizers dm --repeat 2 --sizes 1e5,1e6 --unrolls 5,20 \
  --out "$OUT/bench.json" > "$OUT/bench.txt" 2>&1
echo "exit $?" | tee -a "$OUT/summary.txt"; tail -30 "$OUT/bench.txt" | tee -a "$OUT/summary.txt"

log "4. meta-batch training run"
timeout 150 python -m minil2o train --problem mnist-mlp --optimizer dm --optimizer-arg output_scale=0.1 \
  --meta-batch 64 --epochs 1 --problems-per-epoch 4 --validation-problems 2 --quiet \
  --out "$OUT/train_run" > "$OUT/train.txt" 2>&1
echo "exit $?" | tee -a "$OUT/summary.txt"; tail -3 "$OUT/train.txt" | tee -a "$OUT/summary.txt"
rm -rf "$OUT/train_run"
log "done"
