"""GPU kernels: the LSTM step of minil2o.lstm with its elementwise work fused into one CuPy kernel
each way, and a chunked product for the weight gradients. Used only on the cupy backend, where
minil2o.lstm.lstm_step_functions picks them; tests/test_bench.py checks on a GPU that they give the
same numbers as the reference lstm_step_forward / lstm_step_backward.

Every thread of a cell kernel handles one (row, unit) pair: it reads the four gate pre-activations
of that unit and writes the gates, c, tanh(c) and h (forward), or the four entries of da and
dc_prev (backward), so each array is read and written once instead of once per operation. The
equations are those of lstm_step_forward / lstm_step_backward. CuPy is imported inside the
functions: this module loads without it.
"""

_CELL_FORWARD = """
    ptrdiff_t r = (ptrdiff_t)(i / H) * 4 * H + i % H;       // row i / H, unit i % H, gate i
    T gi = 1 / (1 + exp(-a[r])), gf = 1 / (1 + exp(-a[r + H])), go = 1 / (1 + exp(-a[r + 2 * H]));
    T gg = tanh(a[r + 3 * H]);
    gates[r] = gi; gates[r + H] = gf; gates[r + 2 * H] = go; gates[r + 3 * H] = gg;
    c = gf * c_prev + gi * gg;
    tanh_c = tanh(c);
    h = go * tanh_c;
"""

_CELL_BACKWARD = """
    ptrdiff_t r = (ptrdiff_t)(i / H) * 4 * H + i % H;
    T gi = gates[r], gf = gates[r + H], go = gates[r + 2 * H], gg = gates[r + 3 * H];
    T dct = dc + dh * go * (1 - tanh_c * tanh_c);
    da[r] = dct * gg * gi * (1 - gi);
    da[r + H] = dct * c_prev * gf * (1 - gf);
    da[r + 2 * H] = dh * tanh_c * go * (1 - go);
    da[r + 3 * H] = dct * gi * (1 - gg * gg);
    dc_prev = dct * gf;
"""

_cupy_kernels = {}


def cupy_cell_kernels():
    """The two cupy.ElementwiseKernel objects (built on first use; CuPy compiles and caches them)."""
    if not _cupy_kernels:
        import cupy
        _cupy_kernels["forward"] = cupy.ElementwiseKernel(
            "raw T a, T c_prev, int32 H", "raw T gates, T c, T tanh_c, T h",
            _CELL_FORWARD, "minil2o_lstm_cell_forward")
        _cupy_kernels["backward"] = cupy.ElementwiseKernel(
            "raw T gates, T c_prev, T tanh_c, T dh, T dc, int32 H", "raw T da, T dc_prev",
            _CELL_BACKWARD, "minil2o_lstm_cell_backward")
    return _cupy_kernels


def fused_lstm_step_forward(x, h_prev, c_prev, Wx, Wh, b):
    """lstm_step_forward, (3.1) to (3.4), with the same inputs, outputs and cache: the gates and the
    cell computed by one CuPy kernel after the matrix products a = x Wx + h_prev Wh + b: (N, 4H)."""
    import cupy
    H = h_prev.shape[1]
    a = cupy.ascontiguousarray(x @ Wx + h_prev @ Wh + b)   # (N, 4H)
    gates = cupy.empty_like(a)                             # [i, f, o, g], (N, 4H)
    c, tanh_c, h = (cupy.empty_like(a, shape=c_prev.shape) for _ in range(3))  # (N, H) each
    cupy_cell_kernels()["forward"](a, c_prev, H, gates, c, tanh_c, h)
    i, f, o, g = (gates[:, k * H:(k + 1) * H] for k in range(4))  # (N, H) views
    return h, c, (x, h_prev, c_prev, Wx, Wh, i, f, o, g, tanh_c)


def fused_lstm_step_backward(dh, dc, cache):
    """lstm_step_backward, (3.5) to (3.8), with da: (N, 4H) and dc_prev: (N, H) computed by one
    CuPy kernel; the matrix products are those of lstm_step_backward. The gates are read whole from the (N, 4H)
    array that the cache's i, f, o, g are column views of (i.base)."""
    import cupy
    x, h_prev, c_prev, Wx, Wh, i, f, o, g, tanh_c = cache
    whole = i.base is not None and i.base.shape == (i.shape[0], 4 * i.shape[1])
    gates = cupy.ascontiguousarray(i.base if whole else cupy.concatenate([i, f, o, g], axis=1))
    da, dc_prev = cupy.empty_like(gates), cupy.empty_like(tanh_c)  # (N, 4H), (N, H)
    cupy_cell_kernels()["backward"](gates, c_prev, tanh_c, dh, dc, h_prev.shape[1], da, dc_prev)
    dx = da @ Wx.T                                         # (N, D)
    dh_prev = da @ Wh.T                                    # (N, H)
    dWx = tall_product(x, da)                              # (D, 4H) = x^T da
    dWh = tall_product(h_prev, da)                         # (H, 4H) = h_prev^T da
    db = cupy.sum(da, axis=0)                              # (4H,)
    return dx, dh_prev, dc_prev, dWx, dWh, db


def tall_product(a, b, rows=16384):
    """a^T b for tall a: (N, D) and b: (N, M) on the GPU. As one GEMM, a sum over N in the millions
    into a small (D, M) result keeps few of the GPU's cores busy (measured: 12 ms for N = 1e6,
    D = 20, M = 80). Splitting the rows into chunks of `rows` gives one batched GEMM of
    (C, D, rows) @ (C, rows, M) with C times the parallelism, then a sum over the C partial results."""
    import cupy
    chunks = a.shape[0] // rows
    if chunks < 2:
        return a.T @ b                                     # (D, M)
    head = chunks * rows
    parts = cupy.matmul(a[:head].reshape(chunks, rows, -1).transpose(0, 2, 1),
                        b[:head].reshape(chunks, rows, -1))  # (C, D, M)
    return parts.sum(axis=0) + a[head:].T @ b[head:]       # (D, M)
