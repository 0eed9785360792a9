"""Numerical faults in meta-training: which quantity of a truncation first became NaN or Inf.

After every truncation the trainer checks that the meta-loss and the meta-gradient are finite,
and that phi and Adam's state after the meta-update would be (Trainer.meta_update). When one is
not, find_fault searches the truncation for the first non-finite quantity (the learned
optimizer's update, the optimizee's loss or gradient, the meta-loss, the meta-gradient), or
adam_fault names the meta-gradient so large that its square overflows Adam's second moment.
A fault is a pair (t, quantity): the step t inside the truncation (None when the quantity belongs
to the whole truncation) and the quantity's name; describe() turns it into the message, with the
optimizee step counted from the start of the problem.
"""
import math

from ..backend import all_finite, to_float
from .flat import vector_norm


def find_fault(tr, loss, d_phi):
    """(t, quantity): the first non-finite quantity of the truncation tr, whose meta-loss (a
    float) or meta-gradient d_phi is not finite, and its step t in it (None when it belongs to
    the whole truncation)."""
    for t in range(len(tr.thetas)):
        if not all_finite(tr.thetas[t]):       # theta_t = theta_{t-1} + update_{t-1}
            return (t - 1, "the learned optimizer's update") if t else (0, "theta at the start")
        if not math.isfinite(to_float(tr.losses[t])):
            return t, "the optimizee's loss"
        if not all_finite(tr.grads[t]):
            return t, "the optimizee's gradient"
    if not math.isfinite(loss):
        return None, "the meta-loss"
    name = next(k for k, g in d_phi.items() if not all_finite(g))
    return None, f"the meta-gradient of {name}"


def adam_fault(flat_d_phi):
    """(None, quantity) of an Adam step that would not be finite: the meta-gradient flat_d_phi
    (P,), before clipping, overflows Adam's second moment; named with its norm."""
    return None, (f"the meta-optimizer's state (the meta-gradient, of norm "
                  f"{vector_norm(flat_d_phi):.3g}, overflows Adam's second moment: set clip_norm)")


def describe(fault, first, unroll, context):
    """'<quantity> is not finite at optimizee step <first + t> (<context>)' for a fault (t,
    quantity) of the truncation whose first optimizee step is `first` (steps first..first+unroll
    when t is None)."""
    t, quantity = fault
    step = f"optimizee step {first + t}" if t is not None else \
        f"optimizee steps {first}-{first + unroll}"
    return f"{quantity} is not finite at {step} ({context})"
