"""The meta-gradient of one truncation, three ways (issue: manual BPTT = engine = central differences).

For the DM optimizer (Appendix A preprocessing) and RNNprop, over a truncation of several steps, on a
quadratic and on a small MLP, in float64:
  * the paper's meta-gradient (dashed edges dropped): manual BPTT (minil2o.meta) = the autograd engine
    (minil2o.meta_engine) = central differences of the meta-loss with every optimizee gradient held
    at its recorded value;
  * with second derivatives: manual BPTT = central differences of the plain meta-loss;
  * and the two meta-gradients differ, so the option is not a no-op.
The checks live in tests/gradient_checks.py; the workbook's meta_gradient exercise draws its own
cases (minil2o/workbook/checks_optimizees.py), run here on the library too.
"""
import pytest

import gradient_checks as checks_meta
from exercise_tools import assert_right as exercise_right, library
from helpers import assert_right

OPTIMIZERS, PROBLEMS = list(checks_meta.OPTIMIZERS), list(checks_meta.PROBLEMS)


def test_meta_gradient_exercise():
    exercise_right("meta_gradient", library("meta_gradient"))


@pytest.mark.parametrize("weighting", ["all", "last"])
@pytest.mark.parametrize("problem_name", PROBLEMS)
@pytest.mark.parametrize("opt_name", OPTIMIZERS)
def test_manual_equals_engine_equals_numeric(opt_name, problem_name, weighting):
    assert_right(checks_meta.meta_gradient_three_ways(opt_name, problem_name, weighting))


@pytest.mark.parametrize("problem_name", PROBLEMS)
@pytest.mark.parametrize("opt_name", OPTIMIZERS)
def test_second_derivatives_match_plain_meta_loss(opt_name, problem_name):
    """With nothing held fixed, only the second-order meta-gradient matches central differences;
    the paper's (dropped) one misses them by far more than the check's own error."""
    report = checks_meta.meta_gradient_second_order(opt_name, problem_name)
    print(f"\n{opt_name} on {problem_name}: vs central differences of the plain meta-loss, "
          f"second-order {report.notes['err_second']:.1e}, dashed edges dropped "
          f"{report.notes['err_dropped']:.1e}")
    assert_right(report)
    assert report.notes["err_dropped"] > 10 * report.notes["err_second"]
