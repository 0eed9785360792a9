"""One step of each learned optimizer: its hand-written backward pass against central differences
(float64), for the parameters phi, the incoming state and the input gradient; Appendix A's
preprocessing and RNNprop's relative inputs, forward and backward. The checks are the workbook's
(minil2o/workbook/checks_learned.py), run here on the library over every drawn case; `minil2o
workbook check` runs them on a learner's functions."""
import pytest

from exercise_tools import assert_right, library


@pytest.mark.parametrize("name", ["dm_step_backward", "rnnprop_step_backward",
                                  "preprocess_forward", "preprocess_backward",
                                  "rnnprop_relative_inputs", "rnnprop_relative_inputs_backward"])
def test_learned_optimizer_pieces(name):
    assert_right(name, library(name))
