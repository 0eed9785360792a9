"""The workbook's one table: every exercise, in the order a learner meets them.

Each row names the function a learner writes (`name`), the library function it mirrors (`library`,
a dotted name `minil2o.MODULE.NAME`), where its equations are derived (`equation`), the checks that
test it (names of functions in minil2o.workbook.checks and checks_meta), what goes in and comes out
(`shapes`, for the stub's docstring) and the derivation in steps (`hint`, prose and math, no code).
For a method, `self_name` is the name its `self` takes in the learner's function. Everything else
in the workbook (the stubs, the checks' look-up, `hint`) reads this table.
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


EXERCISES = (
    Exercise(
        "linear_backward", "minil2o.layers.linear_backward",
        "The linear layer's backward pass", "(2.2) and (2.3), chapter 2", ("linear_backward",),
        "dout: (N, M) = dL/d(out) for out = x W + b; cache = (x, W) from linear_forward,\n"
        "x: (N, D), W: (D, M). Returns dx: (N, D), dW: (D, M), db: (M,).",
        "1. Write one entry: out_nm = sum_d x_nd W_dm + b_m.\n"
        "2. dL/dx_nd = sum_m dout_nm d(out_nm)/dx_nd = sum_m dout_nm W_dm: dout W^T (2.2).\n"
        "3. dL/dW_dm = sum_n dout_nm x_nd: every row uses W, so the rows' terms add: x^T dout.\n"
        "4. b_m is added to every row n, so dL/db_m = sum_n dout_nm (2.3).\n"
        "5. Check the shapes: each gradient has the shape of what it is the gradient of."),
    Exercise(
        "sigmoid_backward", "minil2o.layers.sigmoid_backward",
        "The sigmoid's backward pass", "(2.6), chapter 2", ("sigmoid_backward",),
        "dout: any shape, dL/d(out) for out = sigma(x); cache = out (sigmoid_forward keeps it).\n"
        "Returns dx, the shape of dout.",
        "1. sigma(x) = 1 / (1 + e^-x). Differentiate: sigma'(x) = e^-x / (1 + e^-x)^2.\n"
        "2. Write e^-x / (1 + e^-x) = 1 - sigma(x), so sigma'(x) = sigma(x) (1 - sigma(x)) (2.6).\n"
        "3. The layer is elementwise, so its Jacobian is diagonal: dx = dout * sigma'(x), entry by\n"
        "   entry, and sigma(x) is the cached output: no exponential is needed."),
    Exercise(
        "tanh_backward", "minil2o.layers.tanh_backward",
        "The tanh's backward pass", "(3.7), chapter 3 (tanh' = 1 - tanh^2)",
        ("tanh_backward",),
        "dout: any shape, dL/d(out) for out = tanh(x); cache = out. Returns dx, the shape of dout.",
        "1. tanh = sinh / cosh; the quotient rule gives (cosh^2 - sinh^2) / cosh^2 = 1 - tanh^2.\n"
        "2. Elementwise, as for the sigmoid: dx = dout * (1 - out^2), with out the cached tanh(x).\n"
        "3. Mind the square: 1 - out is the derivative of nothing useful here."),
    Exercise(
        "softmax_cross_entropy", "minil2o.layers.softmax_cross_entropy",
        "Softmax cross entropy and its gradient", "(6.2) and (6.3) (delta_2), chapter 6",
        ("softmax_cross_entropy",),
        "logits: (N, C) scores; y: (N, C) one-hot rows. Returns the mean loss over the N rows\n"
        "(a 0-d array) and dlogits: (N, C).",
        "1. Shift each row by its maximum, z = logits - max_c logits (the softmax is unchanged and\n"
        "   exp cannot overflow).\n"
        "2. log p_nc = z_nc - log sum_c' exp(z_nc'); L = -(1/N) sum_n sum_c y_nc log p_nc (6.2).\n"
        "3. For one row, d(-sum_c y_c log p_c)/dz_k = p_k sum_c y_c - y_k = p_k - y_k, because the\n"
        "   row of y sums to 1.\n"
        "4. The mean over N rows divides every row's gradient by N: dlogits = (p - y) / N (6.3)."),
    Exercise(
        "mlp_loss_and_grad", "minil2o.problems.mlp.MLPProblem.loss_and_grad",
        "The MNIST MLP's loss and gradient by backpropagation", "(6.1) to (6.3), chapter 6",
        ("mlp_gradient", "mlp_gradient_and_hvp", "mlp_two_hidden_layers"),
        "problem: an MLPProblem; theta: (B n,), the B instances' parameters (B = 1 in the checks);\n"
        "batch: row indices, or None for every example. X, Y = problem._data(batch) gives\n"
        "X: (B, N, D) and one-hot Y: (B, N, C); problem._layers(theta) gives [(W_l, b_l)] with\n"
        "W_l: (B, D_{l-1}, D_l), b_l: (B, 1, D_l); problem.phi(a) gives (phi(a), phi'(a), ...);\n"
        "problem._flat([(dW_l, db_l)]) with db_l: (B, D_l) lays gradients out like theta.\n"
        "Returns F = sum over instances of the mean cross entropy (0-d) and dF/dtheta: (B n,).",
        "1. Forward (6.1): h_0 = X, a_l = h_{l-1} W_l + b_l, h_l = phi(a_l); keep every h_{l-1} and\n"
        "   phi'(a_l). The last layer has no activation: z = a_L.\n"
        "2. The loss (6.2) is softmax cross entropy of z: its gradient is delta_L = (p - Y) / N.\n"
        "3. Each layer is linear in its weights (exercise linear_backward): dW_l = h_{l-1}^T delta_l,\n"
        "   db_l = sum over the N rows of delta_l.\n"
        "4. Going down a layer: e = delta_l W_l^T, then through the activation,\n"
        "   delta_{l-1} = e * phi'(a_{l-1}) (6.3).\n"
        "5. Walk l = L, ..., 1, and lay the (dW_l, db_l) out in theta's order.",
        self_name="problem"),
    Exercise(
        "quadratic_loss_and_grad", "minil2o.problems.quadratic.QuadraticProblem.loss_and_grad",
        "The quadratic's loss and gradient", "(5.1) and (5.2), chapter 5",
        ("quadratic_gradient_and_hvp", "quadratic_problem"),
        "problem: a QuadraticProblem with W: (B, d, d) and y: (B, d) (B functions of dimension d);\n"
        "theta: (n,) with n = B d, the B vectors theta_b one after another; batch is unused.\n"
        "Returns F = sum_b ||W_b theta_b - y_b||^2 (0-d) and dF/dtheta: (n,).",
        "1. Reshape theta to (B, d) and form the residuals r_b = W_b theta_b - y_b.\n"
        "2. F = sum_b r_b^T r_b (5.1). Its differential: dF = sum_b 2 r_b^T W_b dtheta_b.\n"
        "3. Read the gradient off the differential: dF/dtheta_b = 2 W_b^T r_b (5.2).\n"
        "4. The B functions share nothing, so the gradient is the B pieces one after another.",
        self_name="problem"),
    Exercise(
        "quadratic_hvp", "minil2o.problems.quadratic.QuadraticProblem.hvp",
        "The quadratic's Hessian-vector product", "(5.3), chapter 5",
        ("quadratic_gradient_and_hvp", "quadratic_problem"),
        "problem: a QuadraticProblem (W: (B, d, d)); theta, v: (n,) with n = B d; batch unused.\n"
        "Returns H v: (n,).",
        "1. The gradient 2 W_b^T (W_b theta_b - y_b) is affine in theta_b.\n"
        "2. So the Hessian is constant and block-diagonal: H_b = 2 W_b^T W_b.\n"
        "3. Never form H: (H v)_b = 2 W_b^T (W_b v_b), two matrix-vector products per block (5.3).\n"
        "4. The check compares it with (grad(theta + h v) - grad(theta - h v)) / 2h (5.4).",
        self_name="problem"),
    Exercise(
        "lstm_step_backward", "minil2o.lstm.lstm_step_backward",
        "One LSTM step's backward pass", "(3.5) to (3.8), chapter 3", ("lstm_step_backward",),
        "dh, dc: (N, H), gradients on the step's h and c; cache = (x, h_prev, c_prev, Wx, Wh,\n"
        "i, f, o, g, tanh_c) from lstm_step_forward (gates (N, H) each, in the order i, f, o, g).\n"
        "Returns dx: (N, D), dh_prev: (N, H), dc_prev: (N, H), dWx: (D, 4H), dWh: (H, 4H),\n"
        "db: (4H,).",
        "1. The cell reaches L directly (dc) and through h = o tanh(c):\n"
        "   dc_total = dc + dh o (1 - tanh^2 c) (3.5).\n"
        "2. Products (3.6): do = dh tanh(c), di = dc_total g, df = dc_total c_prev,\n"
        "   dg = dc_total i, dc_prev = dc_total f.\n"
        "3. Through the gate nonlinearities (3.7): sigma' = s (1 - s) for i, f, o and\n"
        "   tanh' = 1 - g^2 for g; stack them in the order i, f, o, g into da: (N, 4H).\n"
        "4. a = x Wx + h_prev Wh + b is a linear layer (3.8): dx = da Wx^T, dh_prev = da Wh^T,\n"
        "   dWx = x^T da, dWh = h_prev^T da, db = the sum of da's rows."),
    Exercise(
        "lstm_backward", "minil2o.lstm.lstm_backward",
        "Backpropagation through time over a sequence", "(3.10), chapter 3",
        ("lstm_backward", "lstm_backward_as_layer"),
        "dh: (N, T, H), gradients on every hidden state from outside the LSTM; cache: the list of\n"
        "T step caches from lstm_forward. Returns dx: (N, T, D), dh0: (N, H), dWx: (D, 4H),\n"
        "dWh: (H, 4H), db: (4H,). You may call the library's lstm_step_backward.",
        "1. h_t feeds the output (dh[:, t]) and step t+1 (as its h_prev): the gradient entering\n"
        "   step t's backward pass is dh[:, t] plus the dh_prev that step t+1 returned.\n"
        "2. The cell c_t feeds only step t+1: step t's dc is the dc_prev of step t+1 (0 after the\n"
        "   last step).\n"
        "3. Walk t = T-1, ..., 0, calling the step backward pass with those two gradients.\n"
        "4. Wx, Wh and b are shared by all steps: their gradients add up over t (3.10).\n"
        "5. What step 0 returns as dh_prev is dh0."),
    Exercise(
        "preprocess_forward", "minil2o.optimizers.learned.preprocess_forward",
        "Appendix A's gradient preprocessing",
        "(A), Andrychowicz et al. 2016, Appendix A; chapter 6",
        ("preprocess_forward",),
        "grad: (n,); mode: 'log' (Appendix A; the check calls this mode), 'none' or 'clamped';\n"
        "p: 10 in the paper. Returns x: (n, 2) for 'log' ((n, 1) for 'none').",
        "1. Large gradients, |g| >= e^-p: x = (log|g| / p, sgn g).\n"
        "2. Small ones, |g| < e^-p: x = (-1, e^p g).\n"
        "3. Both channels are continuous at |g| = e^-p: log(e^-p) / p = -1 and e^p e^-p = 1.\n"
        "4. Never take log(0): evaluate log only where |g| >= e^-p (replace the rest by 1 first),\n"
        "   then choose between the branches entry by entry."),
    Exercise(
        "preprocess_backward", "minil2o.optimizers.learned.preprocess_backward",
        "The gradient of Appendix A's preprocessing", "the derivative of (A), Appendix A",
        ("preprocess_backward",),
        "dx: (n, 2), the gradient on preprocess_forward's output; grad: (n,), its input; mode:\n"
        "'log' (the check calls this mode); p: 10. Returns d grad: (n,).",
        "1. Each coordinate's two channels depend on that coordinate only: the result is\n"
        "   dx_0 dx_0/dg + dx_1 dx_1/dg, entry by entry.\n"
        "2. Large branch: d(log|g| / p)/dg = 1 / (p g) for either sign; sgn g is constant, so the\n"
        "   second channel passes nothing back.\n"
        "3. Small branch: the first channel is the constant -1, the second e^p g:\n"
        "   d grad = e^p dx_1."),
    Exercise(
        "dm_step_backward", "minil2o.optimizers.learned.DMOptimizer.step_backward",
        "One step of the DM optimizer, backwards", "(4.4), chapter 4 (the step of eq. (1), Fig. 3)",
        ("dm_step_backward", "dm_step_backward_clamped", "dm_step_backward_none_1layer"),
        "opt: a DMOptimizer; phi: dict of its parameters (Wx1, Wh1, b1, ..., Wout: (H, 1),\n"
        "bout: (1,)); d_update: (n,); d_state: gradients on the state this step produced (h1, c1,\n"
        "...: (n, H)); cache = (grad, readout, caches) from step_forward, where readout is the\n"
        "cache of minil2o.layers.linear_forward (it holds top). Returns d_phi (a dict like\n"
        "phi), d_state_prev (a dict like d_state) and d grad: (n,) when need_d_grad, else None.\n"
        "You may call minil2o.layers.linear_backward, minil2o.lstm.lstm_stack_backward and\n"
        "preprocess_backward.",
        "1. The read-out: update = output_scale (top Wout + bout)[:, 0]. So d_out =\n"
        "   output_scale d_update as a column (n, 1); dWout = top^T d_out; dbout = sum of d_out;\n"
        "   d_top = d_out Wout^T.\n"
        "2. The LSTM stack, layer L down to 1: each layer's hidden state gets the gradient from\n"
        "   above plus d_state's h for that layer; lstm_stack_backward does this and adds the\n"
        "   weight gradients into d_phi.\n"
        "3. It returns the gradient on the LSTM input x = preprocess(grad): only when need_d_grad\n"
        "   does it go on through the preprocessing (exercise preprocess_backward).\n"
        "4. Start d_phi at zeros like phi: every parameter gets a gradient (4.4).",
        self_name="opt"),
    Exercise(
        "meta_gradient", "minil2o.meta.meta_gradient",
        "The meta-gradient of one truncation by hand", "(4.1) to (4.5), chapter 4",
        ("meta_gradient_dropped", "meta_gradient_kept"),
        "opt, phi: the learned optimizer and its parameters; problem: the optimizee; tr: the\n"
        "Truncation from minil2o.meta.unroll (thetas, grads, batches for t = 0..K; caches for\n"
        "t = 0..K-1; state after step K); weights: [w_1, ..., w_K]. Returns d_phi, a dict like\n"
        "phi. Start the state's gradient at minil2o.meta.zeros_like_state(tr.state); divide each\n"
        "w_t by getattr(problem, 'num_problems', 1) (the meta-loss is a mean over problems).",
        "1. theta_t reaches L through w_t f(theta_t) and through theta_{t+1} = theta_t + g_t (the\n"
        "   dashed edges through grad_t dropped): a_t = w_t grad_t + a_{t+1}, a_{K+1} = 0 (4.1), a\n"
        "   reverse cumulative sum (4.2).\n"
        "2. The update g_{t-1} reaches L only through theta_t: its adjoint is a_t (4.3).\n"
        "3. Walk t = K, ..., 1: form a_t, call the step backward pass of step t-1 with d_update =\n"
        "   a_t and the state gradient from the later step; add its d_phi up (4.4) and carry its\n"
        "   state gradient to the next (earlier) step.\n"
        "4. With second_derivatives, the step backward also returns d grad_{t-1}; the dashed edge\n"
        "   adds H_{t-1} d grad_{t-1} to a_{t-1} (4.5): problem.hvp at theta_{t-1} on its batch."),
    Exercise(
        "rnnprop_relative_inputs", "minil2o.optimizers.learned.RNNprop.relative_inputs",
        "RNNprop's relative inputs", "(9.1) and (9.2), chapter 9", ("rnnprop_relative_inputs",),
        "opt: an RNNprop (beta1, beta2, eps); grad: (n,); state: a dict with m, v: (n,) and the\n"
        "number of steps taken t. Returns x: (n, 2) and the parts (t, m, v, c1, c2, sqrt_v,\n"
        "denom): the new step count, the new averages, the bias corrections 1 - beta^t,\n"
        "sqrt(v / c2): (n,) and sqrt_v + eps: (n,), which the backward pass reads.",
        "1. Count the step: t = state's t + 1.\n"
        "2. Moving averages (9.1): m = beta1 m_prev + (1 - beta1) g, v = beta2 v_prev +\n"
        "   (1 - beta2) g^2.\n"
        "3. Bias corrections: c1 = 1 - beta1^t, c2 = 1 - beta2^t; m^ = m / c1, v^ = v / c2.\n"
        "4. The inputs (9.2): x = (m^ / (sqrt(v^) + eps), g / (sqrt(v^) + eps)), as columns.\n"
        "5. Scale every gradient by c > 0: m^ and sqrt(v^) both scale by c, and x does not change.",
        self_name="opt"),
    Exercise(
        "rnnprop_relative_inputs_backward",
        "minil2o.optimizers.learned.RNNprop.relative_inputs_backward",
        "The backward pass of RNNprop's relative inputs", "(9.1) and (9.2) backwards, chapter 9",
        ("rnnprop_relative_inputs_backward",),
        "opt: an RNNprop; d_x: (n, 2), the gradient on x; grad: (n,); d_state: a dict with m, v:\n"
        "(n,), the gradients on the new averages from the next step; parts: from relative_inputs.\n"
        "Returns d m_prev: (n,), d v_prev: (n,), d grad: (n,).",
        "1. Both inputs share denom = sqrt(v^) + eps: d denom = -(d_x0 m^ + d_x1 g) / denom^2.\n"
        "2. denom depends on v through sqrt(v / c2): d v = d denom / (2 sqrt(v^)) / c2, plus the\n"
        "   gradient on v from the next step.\n"
        "3. m enters only x_0 = (m / c1) / denom: d m = d_x0 / (denom c1), plus the next step's.\n"
        "4. g enters x_1 directly and both averages (9.1): d g = d_x1 / denom + (1 - beta1) d m\n"
        "   + 2 (1 - beta2) g d v.\n"
        "5. The previous averages: d m_prev = beta1 d m, d v_prev = beta2 d v.",
        self_name="opt"),
    Exercise(
        "tensor_sigmoid", "minil2o.autograd.Tensor.sigmoid",
        "One autograd engine op: the sigmoid", "(2.1) and (2.6), chapter 2", ("tensor_sigmoid",),
        "x: a Tensor (any shape). Returns a new Tensor s = sigma(x.data) whose inputs are (x,) and\n"
        "whose _backward adds to x.grad. Tensor(data, (x,), 'sigmoid') makes it.",
        "1. Forward: s = sigma(x), computed as (1 + tanh(x / 2)) / 2 so it never overflows.\n"
        "2. Record the graph: the new Tensor's inputs are (x,), so backward() visits x after it.\n"
        "3. Its backward closure applies (2.1) with the local derivative (2.6): x.grad +=\n"
        "   out.grad * s * (1 - s), elementwise.\n"
        "4. Accumulate with +=: x may feed other ops too, and their contributions add.",
        self_name="x"),
)

BY_NAME = {exercise.name: exercise for exercise in EXERCISES}
"""name -> Exercise."""


def exercise(name):
    """The Exercise called `name`, or a KeyError listing every name."""
    if name not in BY_NAME:
        raise KeyError(f"unknown exercise {name!r}: choose from {', '.join(BY_NAME)}")
    return BY_NAME[name]
