"""One step of each learned optimizer: its hand-written backward pass against central differences
(float64), for the parameters phi, the incoming state and the input gradient; Appendix A's
preprocessing and RNNprop's relative inputs, forward and backward. The checks live in
minil2o/workbook/checks_meta.py, where `minil2o workbook check` runs them on a learner's
functions."""
import pytest

from minil2o.workbook import checks_meta

from helpers import assert_right


@pytest.mark.parametrize("check", [checks_meta.dm_step_backward,
                                   checks_meta.dm_step_backward_clamped,
                                   checks_meta.dm_step_backward_none_1layer,
                                   checks_meta.rnnprop_step_backward],
                         ids=["dm-log", "dm-clamped", "dm-none-1layer", "rnnprop"])
def test_step_backward(check):
    assert_right(check())


def test_appendix_a_preprocessing():
    """(log|g| / p, sign g) when |g| >= e^-p, else (-1, e^p g), with p = 10."""
    assert_right(checks_meta.preprocess_forward())


def test_appendix_a_preprocessing_backward():
    assert_right(checks_meta.preprocess_backward())


def test_rnnprop_inputs_are_scale_invariant():
    """RNNprop's relative inputs against (9.1), (9.2) on the host; multiplying every gradient by
    c > 0 leaves them unchanged."""
    assert_right(checks_meta.rnnprop_relative_inputs())


def test_rnnprop_relative_inputs_backward():
    assert_right(checks_meta.rnnprop_relative_inputs_backward())
