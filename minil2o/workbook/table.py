"""The workbook's one table: every exercise, in the order a learner meets them.

Each row names the function a learner writes (`name`), the library function it mirrors (`library`,
a dotted name `minil2o.MODULE.NAME`), where its equations are derived (`equation`), the checks that
test it (names of functions in minil2o/workbook/checks_*.py) and how many cases each draws
(`cases`), what goes in and comes out with the contract (`shapes`, for the stub's docstring), the
derivation in steps (`hint`, prose and math, no code) and its chapter (the table's order). For a
method, `self_name` is the name its `self` takes in the learner's function. Everything else in the
workbook (the stubs, the checks' look-up, `hint`, the chapters' `check`) reads this table.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Exercise:
    """One hand-written piece of minil2o, as an exercise."""
    name: str            # the function's name in a learner's file
    library: str         # the library function it mirrors: minil2o.MODULE.NAME
    title: str           # one line: what it computes
    equation: str        # where it is derived: its number in the paper or chapter
    checks: tuple        # the check functions that test it, by name
    shapes: str          # inputs and outputs with their shapes
    hint: str            # the derivation, step by step
    self_name: str = ""  # for a method: what `self` is called in the learner's function
    chapter: int = 0     # the chapter whose graded exercise it is (the table's order)
    cases: int = 8       # cases each of its checks draws


EXERCISES = (
    Exercise(
        "linear_backward", "minil2o.layers.linear_backward",
        "The linear layer's backward pass", "(2.2) and (2.3), chapter 2", ("linear_backward",),
        "dout: (N, M) = dL/d(out) for out = x W + b; cache = (x, W) from linear_forward,\n"
        "x: (N, D), W: (D, M). Returns dx: (N, D), dW: (D, M), db: (M,), each of the inputs'\n"
        "dtype (float32 in, float32 out); dout and the cache are left as they were.",
        "1. Write one entry: out_nm = sum_d x_nd W_dm + b_m.\n"
        "2. dL/dx_nd = sum_m dout_nm d(out_nm)/dx_nd = sum_m dout_nm W_dm: dout W^T (2.2).\n"
        "3. dL/dW_dm = sum_n dout_nm x_nd: every row uses W, so the rows' terms add: x^T dout.\n"
        "4. b_m is added to every row n, so dL/db_m = sum_n dout_nm (2.3).\n"
        "5. Check the shapes: each gradient has the shape of what it is the gradient of.",
        chapter=2, cases=24),
    Exercise(
        "sigmoid_backward", "minil2o.layers.sigmoid_backward",
        "The sigmoid's backward pass", "(2.6), chapter 2", ("sigmoid_backward",),
        "dout: any shape, dL/d(out) for out = sigma(x); cache = out (sigmoid_forward keeps it).\n"
        "Returns dx, of dout's shape and dtype; dout and cache are left as they were.",
        "1. sigma(x) = 1 / (1 + e^-x). Differentiate: sigma'(x) = e^-x / (1 + e^-x)^2.\n"
        "2. Write e^-x / (1 + e^-x) = 1 - sigma(x), so sigma'(x) = sigma(x) (1 - sigma(x)) (2.6).\n"
        "3. The layer is elementwise, so its Jacobian is diagonal: dx = dout * sigma'(x), entry by\n"
        "   entry, and sigma(x) is the cached output: no exponential is needed.",
        chapter=2, cases=24),
    Exercise(
        "tanh_backward", "minil2o.layers.tanh_backward",
        "The tanh's backward pass", "(3.7), chapter 3 (tanh' = 1 - tanh^2)",
        ("tanh_backward",),
        "dout: any shape, dL/d(out) for out = tanh(x); cache = out (tanh_forward keeps it).\n"
        "Returns dx, of dout's shape and dtype; dout and cache are left as they were.",
        "1. tanh = sinh / cosh; the quotient rule gives (cosh^2 - sinh^2) / cosh^2 = 1 - tanh^2.\n"
        "2. Elementwise, as for the sigmoid: dx = dout * (1 - out^2), with out the cached tanh(x).\n"
        "3. Mind the square: 1 - out is the derivative of nothing useful here.",
        chapter=3, cases=24),
    Exercise(
        "softmax_cross_entropy", "minil2o.layers.softmax_cross_entropy",
        "Softmax cross entropy and its gradient", "(6.2) and (6.3) (delta_2), chapter 6",
        ("softmax_cross_entropy",),
        "logits: (N, C) scores (N >= 1, C >= 2, entries as large as 1e4); y: (N, C), one-hot\n"
        "rows. Returns the mean loss over the N rows (a 0-d array) and dlogits: (N, C), both of\n"
        "the logits' dtype; logits and y are left as they were.",
        "1. Shift each row by its maximum, z = logits - max_c logits (the softmax is unchanged and\n"
        "   exp cannot overflow).\n"
        "2. log p_nc = z_nc - log sum_c' exp(z_nc'); L = -(1/N) sum_n sum_c y_nc log p_nc (6.2).\n"
        "3. For one row, d(-sum_c y_c log p_c)/dz_k = p_k sum_c y_c - y_k = p_k - y_k, because the\n"
        "   row of y sums to 1.\n"
        "4. The mean over N rows divides every row's gradient by N: dlogits = (p - y) / N (6.3).",
        chapter=6, cases=24),
    Exercise(
        "mlp_loss_and_grad", "minil2o.problems.mlp.MLPProblem.loss_and_grad",
        "The MNIST MLP's loss and gradient by backpropagation", "(6.1) to (6.3), chapter 6",
        ("mlp_loss_and_grad",),
        "problem: an MLPProblem of B instances (B = problem.num_problems, 1 to 3 in the checks);\n"
        "theta: (B n,), their parameters one after another; batch: row indices ((N,) for B = 1,\n"
        "(B, N) for B > 1), or None for every row. X, Y = problem.data(batch) gives X: (B, N, D)\n"
        "and one-hot Y: (B, N, C) (B = 1 for None: they broadcast over the instances);\n"
        "problem.layers(theta) gives [(W_l, b_l)], W_l: (B, D_{l-1}, D_l), b_l: (B, 1, D_l), for\n"
        "1 to 3 hidden layers; problem.phi(a) gives (phi(a), phi'(a), ...) for the problem's\n"
        "activation (sigmoid, tanh, relu or elu); problem.flatten([(dW_l, db_l)]) lays gradients\n"
        "out like theta. Returns F = sum over instances of the mean cross entropy, a 0-d array, and\n"
        "dF/dtheta: (B n,), both in theta's dtype; theta and batch are left as they were.",
        "1. Forward (6.1): h_0 = X, a_l = h_{l-1} W_l + b_l, h_l = phi(a_l); keep every h_{l-1} and\n"
        "   phi'(a_l) (problem.phi: the problem's activation, not always the sigmoid). The last\n"
        "   layer has no activation: z = a_L.\n"
        "2. The loss (6.2) is softmax cross entropy of z: its gradient is delta_L = (p - Y) / N.\n"
        "3. Each layer is linear in its weights (exercise linear_backward): dW_l = h_{l-1}^T delta_l,\n"
        "   db_l = sum over the N rows of delta_l.\n"
        "4. Going down a layer: e = delta_l W_l^T, then through the activation,\n"
        "   delta_{l-1} = e * phi'(a_{l-1}) (6.3).\n"
        "5. Walk l = L, ..., 1, and lay the (dW_l, db_l) out in theta's order (problem.flatten).\n"
        "6. The B instances share no parameter: with a leading axis B on every array, each product\n"
        "   above is B matrix products at once, and F adds the instances' losses.",
        self_name="problem",
        chapter=6, cases=24),
    Exercise(
        "quadratic_loss_and_grad", "minil2o.problems.quadratic.QuadraticProblem.loss_and_grad",
        "The quadratic's loss and gradient", "(5.1) and (5.2), chapter 5",
        ("quadratic_loss_and_grad",),
        "problem: a QuadraticProblem with W: (B, d, d) and y: (B, d) (B functions of dimension d);\n"
        "B = problem.num_problems and d = problem.dim (1 and up; not the chapter's 10); theta: (n,)\n"
        "with n = B d, the B vectors theta_b one after another; batch is unused.\n"
        "Returns F = sum_b ||W_b theta_b - y_b||^2, a 0-d array, and dF/dtheta: (n,), both in\n"
        "theta's dtype; theta, W and y are left as they were.",
        "1. Reshape theta to (B, d) and form the residuals r_b = W_b theta_b - y_b.\n"
        "2. F = sum_b r_b^T r_b (5.1). Its differential: dF = sum_b 2 r_b^T W_b dtheta_b.\n"
        "3. Read the gradient off the differential: dF/dtheta_b = 2 W_b^T r_b (5.2).\n"
        "4. The B functions share nothing, so the gradient is the B pieces one after another.",
        self_name="problem",
        chapter=5, cases=24),
    Exercise(
        "quadratic_hvp", "minil2o.problems.quadratic.QuadraticProblem.hvp",
        "The quadratic's Hessian-vector product", "(5.3), chapter 5",
        ("quadratic_hvp",),
        "problem: a QuadraticProblem (W: (B, d, d), B = problem.num_problems, d = problem.dim);\n"
        "theta, v: (n,) with n = B d, v_b the b-th block of d; batch unused.\n"
        "Returns H v: (n,) in v's dtype; theta, v and W are left as they were.",
        "1. The gradient 2 W_b^T (W_b theta_b - y_b) is affine in theta_b.\n"
        "2. So the Hessian is constant and block-diagonal: H_b = 2 W_b^T W_b.\n"
        "3. Never form H: (H v)_b = 2 W_b^T (W_b v_b), two matrix-vector products per block (5.3).\n"
        "4. It equals (grad(theta + h v) - grad(theta - h v)) / 2h (5.4); the check compares it\n"
        "   with 2 W_b^T W_b v_b computed on the host.",
        self_name="problem",
        chapter=5, cases=24),
    Exercise(
        "lstm_step_backward", "minil2o.lstm.lstm_step_backward",
        "One LSTM step's backward pass", "(3.5) to (3.8), chapter 3", ("lstm_step_backward",),
        "dh, dc: (N, H), gradients on the step's h and c; cache = (x, h_prev, c_prev, Wx, Wh,\n"
        "i, f, o, g, tanh_c) from lstm_step_forward (gates (N, H) each, in the order i, f, o, g).\n"
        "Returns dx: (N, D), dh_prev: (N, H), dc_prev: (N, H), dWx: (D, 4H), dWh: (H, 4H),\n"
        "db: (4H,), all six in the inputs' dtype (float32 in, float32 out); dh, dc and the cache\n"
        "are left as they were. Sizes come from the arrays, never from the chapter's N, D, H.",
        "1. The cell reaches L directly (dc) and through h = o tanh(c):\n"
        "   dc_total = dc + dh o (1 - tanh^2 c) (3.5).\n"
        "2. Products (3.6): do = dh tanh(c), di = dc_total g, df = dc_total c_prev,\n"
        "   dg = dc_total i, dc_prev = dc_total f.\n"
        "3. Through the gate nonlinearities (3.7): sigma' = s (1 - s) for i, f, o and\n"
        "   tanh' = 1 - g^2 for g; stack them in the order i, f, o, g into da: (N, 4H).\n"
        "4. a = x Wx + h_prev Wh + b is a linear layer (3.8): dx = da Wx^T, dh_prev = da Wh^T,\n"
        "   dWx = x^T da, dWh = h_prev^T da, db = the sum of da's rows.",
        chapter=3, cases=24),
    Exercise(
        "lstm_backward", "minil2o.lstm.lstm_backward",
        "Backpropagation through time over a sequence", "(3.10), chapter 3",
        ("lstm_backward",),
        "dh: (N, T, H), gradients on every hidden state from outside the LSTM; cache: the list of\n"
        "T step caches from lstm_forward. Returns dx: (N, T, D), dh0: (N, H), dWx: (D, 4H),\n"
        "dWh: (H, 4H), db: (4H,), all in dh's dtype; dh and the caches are left as they were.\n"
        "T is dh.shape[1] (1 included). You may call the library's lstm_step_backward.",
        "1. h_t feeds the output (dh[:, t]) and step t+1 (as its h_prev): the gradient entering\n"
        "   step t's backward pass is dh[:, t] plus the dh_prev that step t+1 returned.\n"
        "2. The cell c_t feeds only step t+1: step t's dc is the dc_prev of step t+1 (0 after the\n"
        "   last step).\n"
        "3. Walk t = T-1, ..., 0, calling the step backward pass with those two gradients.\n"
        "4. Wx, Wh and b are shared by all steps: their gradients add up over t (3.10).\n"
        "5. What step 0 returns as dh_prev is dh0.",
        chapter=3, cases=24),
    Exercise(
        "preprocess_forward", "minil2o.optimizers.learned.preprocess_forward",
        "Appendix A's gradient preprocessing",
        "(A), Andrychowicz et al. 2016, Appendix A; chapter 6",
        ("preprocess_forward",),
        "grad: (n,); mode: 'log' (Appendix A), 'none' (x = g as a column) or 'clamped'\n"
        "(x = (max(log(|g| + 1e-8) / p, -1), clip(e^p g, -1, 1))); p > 0 (10 in the paper; the\n"
        "check draws 2 to 25). Returns x: (n, 2) ((n, 1) for 'none') in grad's dtype; grad is\n"
        "left as it was.",
        "1. Large gradients, |g| >= e^-p: x = (log|g| / p, sgn g).\n"
        "2. Small ones, |g| < e^-p: x = (-1, e^p g).\n"
        "3. Both channels are continuous at |g| = e^-p: log(e^-p) / p = -1 and e^p e^-p = 1.\n"
        "4. Never take log(0): evaluate log only where |g| >= e^-p (replace the rest by 1 first),\n"
        "   then choose between the branches entry by entry.",
        chapter=6, cases=24),
    Exercise(
        "preprocess_backward", "minil2o.optimizers.learned.preprocess_backward",
        "The gradient of Appendix A's preprocessing", "the derivative of (A), Appendix A",
        ("preprocess_backward",),
        "dx: (n, D), the gradient on preprocess_forward's output (D = 1 for 'none', else 2);\n"
        "grad: (n,), its input; mode: 'log', 'none' or 'clamped'; p > 0 (the check draws 2 to\n"
        "25). Returns d grad: (n,) in grad's dtype; dx and grad are left as they were. At\n"
        "|g| = e^-p either branch's derivative is accepted.",
        "1. Each coordinate's two channels depend on that coordinate only: the result is\n"
        "   dx_0 dx_0/dg + dx_1 dx_1/dg, entry by entry.\n"
        "2. Large branch: d(log|g| / p)/dg = 1 / (p g) for either sign; sgn g is constant, so the\n"
        "   second channel passes nothing back.\n"
        "3. Small branch: the first channel is the constant -1, the second e^p g:\n"
        "   d grad = e^p dx_1.\n"
        "4. 'clamped': each channel passes its derivative back only where it is not clamped;\n"
        "   'none': d grad = dx_0.",
        chapter=6, cases=24),
    Exercise(
        "dm_step_backward", "minil2o.optimizers.learned.DMOptimizer.step_backward",
        "One step of the DM optimizer, backwards", "(4.4), chapter 4 (the step of eq. (1), Fig. 3)",
        ("dm_step_backward",),
        "opt: a DMOptimizer; phi: dict of its parameters (Wx1, Wh1, b1, ..., Wout: (H, 1),\n"
        "bout: (1,)); d_update: (n,); d_state: gradients on the state this step produced (h1, c1,\n"
        "...: (n, H)); cache = (grad, readout, caches) from step_forward, where readout is the\n"
        "cache of minil2o.layers.linear_forward (it holds top). Returns d_phi (a dict like\n"
        "phi), d_state_prev (a dict like d_state) and d grad: (n,) when need_d_grad, else None.\n"
        "Read opt.output_scale, opt.preprocess, opt.p and opt.num_layers (the check draws them).\n"
        "Every array returned has phi's dtype; phi, d_update, d_state and cache are left as they\n"
        "were. You may call minil2o.layers.linear_backward, minil2o.lstm.lstm_stack_backward\n"
        "and preprocess_backward.",
        "1. The read-out: update = output_scale (top Wout + bout)[:, 0]. So d_out =\n"
        "   output_scale d_update as a column (n, 1); dWout = top^T d_out; dbout = sum of d_out;\n"
        "   d_top = d_out Wout^T.\n"
        "2. The LSTM stack, layer L down to 1: each layer's hidden state gets the gradient from\n"
        "   above plus d_state's h for that layer; lstm_stack_backward does this and adds the\n"
        "   weight gradients into d_phi.\n"
        "3. It returns the gradient on the LSTM input x = preprocess(grad): only when need_d_grad\n"
        "   does it go on through the preprocessing (exercise preprocess_backward).\n"
        "4. Start d_phi at zeros like phi: every parameter gets a gradient (4.4).",
        self_name="opt",
        chapter=4, cases=24),
    Exercise(
        "meta_gradient", "minil2o.meta.meta_gradient",
        "The meta-gradient of one truncation by hand", "(4.1) to (4.5), chapter 4",
        ("meta_gradient",),
        "opt, phi: the learned optimizer and its parameters; problem: the optimizee; tr: the\n"
        "Truncation from minil2o.meta.unroll (thetas, grads, batches for t = 0..K; caches for\n"
        "t = 0..K-1; state after step K), K = len(tr.caches) (1 to 6 in the checks, not only the\n"
        "chapter's 5); weights: [w_1, ..., w_K], any numbers w_t >= 0 (zeros too);\n"
        "second_derivatives: keep the dashed edges (4.5). Returns d_phi, a dict with phi's keys,\n"
        "each of its entry's shape and dtype; phi, weights and tr are left as they were. Start\n"
        "the state's gradient at minil2o.meta.zeros_like_state(tr.state); divide each w_t by\n"
        "B = getattr(problem, 'num_problems', 1) (the meta-loss is a mean over B problems).",
        "1. theta_t reaches L through w_t f(theta_t) and through theta_{t+1} = theta_t + g_t (the\n"
        "   dashed edges through grad_t dropped): a_t = w_t grad_t + a_{t+1}, a_{K+1} = 0 (4.1), a\n"
        "   reverse cumulative sum (4.2).\n"
        "2. The update g_{t-1} reaches L only through theta_t: its adjoint is a_t (4.3).\n"
        "3. Walk t = K, ..., 1: form a_t, call the step backward pass of step t-1 with d_update =\n"
        "   a_t and the state gradient from the later step; add its d_phi up (4.4) and carry its\n"
        "   state gradient to the next (earlier) step.\n"
        "4. With second_derivatives, the step backward also returns d grad_{t-1}; the dashed edge\n"
        "   adds H_{t-1} d grad_{t-1} to a_{t-1} (4.5): problem.hvp at theta_{t-1} on its batch\n"
        "   (an MLP's Hessian changes with theta and batch: theta_t or batch t is wrong there).",
        chapter=4, cases=24),
    Exercise(
        "rnnprop_relative_inputs", "minil2o.optimizers.learned.RNNprop.relative_inputs",
        "RNNprop's relative inputs", "(9.1) and (9.2), chapter 9", ("rnnprop_relative_inputs",),
        "opt: an RNNprop (beta1, beta2, eps); grad: (n,); state: a dict with m, v: (n,) and the\n"
        "number of steps taken t. Returns x: (n, 2) and the parts (t, m, v, c1, c2, sqrt_v,\n"
        "denom): the new step count, the new averages, the bias corrections 1 - beta^t,\n"
        "sqrt(v / c2): (n,) and sqrt_v + eps: (n,), which the backward pass reads. Read\n"
        "opt.beta1, opt.beta2, opt.eps (the check draws them). The arrays keep grad's dtype;\n"
        "grad and state are left as they were (return new arrays).",
        "1. Count the step: t = state's t + 1.\n"
        "2. Moving averages (9.1): m = beta1 m_prev + (1 - beta1) g, v = beta2 v_prev +\n"
        "   (1 - beta2) g^2.\n"
        "3. Bias corrections: c1 = 1 - beta1^t, c2 = 1 - beta2^t; m^ = m / c1, v^ = v / c2.\n"
        "4. The inputs (9.2): x = (m^ / (sqrt(v^) + eps), g / (sqrt(v^) + eps)), as columns.\n"
        "5. Scale every gradient by c > 0: m^ and sqrt(v^) both scale by c, and x does not change.",
        self_name="opt",
        chapter=9, cases=24),
    Exercise(
        "rnnprop_relative_inputs_backward",
        "minil2o.optimizers.learned.RNNprop.relative_inputs_backward",
        "The backward pass of RNNprop's relative inputs", "(9.1) and (9.2) backwards, chapter 9",
        ("rnnprop_relative_inputs_backward",),
        "opt: an RNNprop; d_x: (n, 2), the gradient on x; grad: (n,); d_state: a dict with m, v:\n"
        "(n,), the gradients on the new averages from the next step; parts: from relative_inputs.\n"
        "Returns d m_prev: (n,), d v_prev: (n,), d grad: (n,) in grad's dtype; the inputs are\n"
        "left as they were. Read opt.beta1, opt.beta2 (the check draws them, and eps).",
        "1. Both inputs share denom = sqrt(v^) + eps: d denom = -(d_x0 m^ + d_x1 g) / denom^2.\n"
        "2. denom depends on v through sqrt(v / c2): d v = d denom / (2 sqrt(v^)) / c2, plus the\n"
        "   gradient on v from the next step.\n"
        "3. m enters only x_0 = (m / c1) / denom: d m = d_x0 / (denom c1), plus the next step's.\n"
        "4. g enters x_1 directly and both averages (9.1): d g = d_x1 / denom + (1 - beta1) d m\n"
        "   + 2 (1 - beta2) g d v.\n"
        "5. The previous averages: d m_prev = beta1 d m, d v_prev = beta2 d v.",
        self_name="opt",
        chapter=9, cases=24),
    Exercise(
        "tensor_sigmoid", "minil2o.autograd.Tensor.sigmoid",
        "One autograd engine op: the sigmoid", "(2.1) and (2.6), chapter 2", ("tensor_sigmoid",),
        "x: a Tensor (any shape, float32 or float64, entries as large as +-800). Returns a new\n"
        "Tensor s = sigma(x.data) of x's dtype (never NaN, no overflow) whose inputs are (x,) and\n"
        "whose _backward adds (+=) out.grad * s * (1 - s) to x.grad, which may already hold other\n"
        "ops' contributions; x is left as it was. Tensor(data, (x,), 'sigmoid') makes it.",
        "1. Forward: s = sigma(x), computed as (1 + tanh(x / 2)) / 2 so it never overflows.\n"
        "2. Record the graph: the new Tensor's inputs are (x,), so backward() visits x after it.\n"
        "3. Its backward closure applies (2.1) with the local derivative (2.6): x.grad +=\n"
        "   out.grad * s * (1 - s), elementwise.\n"
        "4. Accumulate with +=: x may feed other ops too, and their contributions add.",
        self_name="x",
        chapter=2, cases=24),
    Exercise(
        "adagrad_step", "minil2o.optimizers.hand.Adagrad.step",
        "One step of Adagrad (Table 1 of Lv et al. 2017)", "(1.6), chapter 1",
        ("adagrad_step",),
        "opt: an Adagrad with opt.lr (alpha) and opt.eps (any positive values); grad: (n,);\n"
        "state: a dict with G: (n,) (the sum of squared gradients so far) and t (steps taken).\n"
        "Returns the update: (n,) and a new state {'t': t + 1, 'G': G_t}, of grad's dtype; grad,\n"
        "the state passed in (its G included) and opt are left as they were.",
        "1. Accumulate the squares: G_t = G_{t-1} + g_t^2, entry by entry.\n"
        "2. Divide by the square root of the sum, with eps added after the root:\n"
        "   Delta theta_t = -alpha g_t / (sqrt(G_t) + eps), alpha = opt.lr and eps = opt.eps.\n"
        "   Where G_t is as small as eps^2, eps decides the step: its place matters.\n"
        "3. Return a new state with a new array G_t (G + g^2, never G += g^2 in place): the\n"
        "   caller still holds G_{t-1}.",
        self_name="opt", chapter=1, cases=24),
    Exercise(
        "conv2d_backward", "minil2o.convolution.conv2d_backward",
        "The convolution's backward pass", "(7.2), chapter 7", ("conv2d_backward",),
        "dout: (N, F, H, W), the gradient on conv2d_forward's output (SAME padding, stride 1);\n"
        "cache = (x.shape, cols, w) from conv2d_forward(x, w, b) with x: (N, C, H, W),\n"
        "w: (F, C, k, k) for any odd k, b: (F,). Returns dx: (N, C, H, W), dw: (F, C, k, k),\n"
        "db: (F,), in dout's dtype; dout and the cache are left as they were.",
        "1. The forward pass is a matrix product on unfolded patches (im2col): out = w2 cols + b.\n"
        "2. As for a linear layer: dw = dout2 cols^T, db = the sum of dout over N, H', W'.\n"
        "3. dcols = w2^T dout2; fold the columns back (col2im), adding where patches overlap.",
        chapter=7, cases=24),
    Exercise(
        "gram_backward", "minil2o.problems.art_features.gram_backward",
        "The Gram matrix's backward pass", "(8.5), chapter 8", ("gram_backward",),
        "dG: (C, C), the gradient on G = F F^T / M; F: (C, M), the features flattened; shape:\n"
        "the features' shape (1, C, H, W) with M = H W (H and W may differ). Returns dfeat of\n"
        "that shape, in F's dtype; dG and F are left as they were. dG need not be symmetric.",
        "1. G_ij = sum_m F_im F_jm / M: F_km appears in row k and in column k.\n"
        "2. dF = (dG + dG^T) F / M: both appearances, so dG's transpose too (dG need not be\n"
        "   symmetric).\n"
        "3. Reshape dF: (C, M) to the features' shape.",
        chapter=8, cases=24),
    Exercise(
        "rnnprop_step_backward", "minil2o.optimizers.learned.RNNprop.step_backward",
        "One step of RNNprop, backwards", "(9.7) to (9.13), chapter 9",
        ("rnnprop_step_backward",),
        "opt: an RNNprop; phi: its parameters; d_update: (n,); d_state: gradients on the state the\n"
        "step produced (m, v: (n,), h1, c1, ...: (n, H)); cache from step_forward. Returns d_phi\n"
        "(a dict like phi), d_state_prev (a dict like d_state) and d grad: (n,) when need_d_grad,\n"
        "else None (without need_d_grad, d_state_prev's m and v may be 0: they do not depend on\n"
        "phi). Read opt.alpha, opt.beta1, opt.beta2, opt.eps, opt.num_layers (the check draws\n"
        "them). Every array returned has phi's dtype; the inputs are left as they were.",
        "1. The read-out: update = alpha tanh(top Wout + bout): through tanh, then a linear layer.\n"
        "2. The LSTM stack and the ELU input layer, backwards (lstm_stack_backward).\n"
        "3. The relative inputs backwards (exercise rnnprop_relative_inputs_backward).",
        self_name="opt", chapter=9, cases=24),
)

EXERCISES += (   # chapters 10 and 11
    Exercise(
        "logsumexp", "minil2o.layers.logsumexp",
        "A stable log-sum-exp for arrays of any array API namespace", "(10.1), chapter 10",
        ("logsumexp",),
        "x: a float32 or float64 array of any array API namespace (NumPy, array_api_strict,\n"
        "CuPy), ndim >= 1, finite entries; axis: an int in [-ndim, ndim); keepdims: a bool.\n"
        "Returns log sum_i exp(x_i) along axis: an array of x's namespace and dtype, of x's shape\n"
        "without axis (kept with size 1 when keepdims). x is left as it was. The check calls it\n"
        "on NumPy AND array_api_strict arrays: take the namespace from x\n"
        "(ns = array_api_compat.array_namespace(x)) and call only the standard's functions.",
        "1. The namespace: ns = array_namespace(x) gives NumPy's for a NumPy array and\n"
        "   array_api_strict for a strict one; minil2o's xp is the selected backend's, which is\n"
        "   the wrong one for the other kind of array.\n"
        "2. Only the standard: ns.max(x, axis=..., keepdims=True), never x.max() or np.max(x).\n"
        "3. Shift by the largest entry of each slice, m = max_i x_i (keepdims, so it broadcasts):\n"
        "   log sum_i exp(x_i) = m + log sum_i exp(x_i - m) (10.1). Every exp is at most 1\n"
        "   and one is exactly 1: no overflow at x = 1e3, no log(0) at x = -1e3.\n"
        "4. One max for the whole array is not enough: each slice along axis needs its own.\n"
        "5. keepdims=False removes the axis at the end (ns.squeeze(out, axis=axis)).",
        chapter=10, cases=16),
    Exercise(
        "adam_update", "minil2o.use.dropin.tree_update",
        "Adam over your own arrays, array by array", "(11.3), chapter 11",
        ("adam_update",),
        "opt: a minil2o.optimizers.hand.Adam (opt.lr, opt.beta1, opt.beta2, opt.eps); params,\n"
        "grads: a list, tuple or dict of arrays of any shapes (0-d included), all float32 or all\n"
        "float64; state: {'t': steps taken, 'm': ..., 'v': ...}, m and v containers like params.\n"
        "Returns (new params, new state): containers of params' kind with its keys, each array of\n"
        "its input's shape and dtype, and 't' one more. params, grads, state and opt are left as\n"
        "they were, so an old state can be replayed.",
        "1. Count the step: t = state['t'] + 1 (a new dict: the caller still holds the old one).\n"
        "2. For each array a with gradient g and moments m, v (same key or position):\n"
        "   m_t = beta1 m + (1 - beta1) g, v_t = beta2 v + (1 - beta2) g^2 (11.3).\n"
        "3. Bias corrections with the new t: m^ = m_t / (1 - beta1^t), v^ = v_t / (1 - beta2^t).\n"
        "4. a_new = a - lr m^ / (sqrt(v^) + eps): eps after the square root and after the\n"
        "   correction; it matters when the gradients are as small as eps.\n"
        "5. Build new containers of params' kind (a dict with the same keys in the same order, a\n"
        "   list or a tuple): never assign into params, grads or state, never use x -= ...",
        chapter=11, cases=16),
)

EXERCISES = tuple(sorted(EXERCISES, key=lambda ex: ex.chapter))   # stable: the chapter's order

BY_NAME = {exercise.name: exercise for exercise in EXERCISES}
"""name -> Exercise."""


def exercise(name):
    """The Exercise called `name`, or a KeyError listing every name."""
    if name not in BY_NAME:
        raise KeyError(f"unknown exercise {name!r}: choose from {', '.join(BY_NAME)}")
    return BY_NAME[name]
