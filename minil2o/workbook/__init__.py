"""The workbook: minil2o's gradient checks as exercises, run on a learner's own functions.

    minil2o workbook new w.py        a file of stubs, one per hand-written piece, in learner order
    minil2o workbook check w.py      the suite's own checks on the learner's functions
    minil2o workbook hint NAME       the derivation of one exercise, step by step

    table.py               the exercises, in chapter order: name -> library function, equation,
                           checks, number of cases, contract, hint
    lookup.py              impl(name): the function a check tests (the library's, or a learner's)
    measure.py             what every check shares: drawn cases, contracts, measures with bounds
    checks_stateful.py     chapters 1, 2: Adagrad's step (its state), the engine's sigmoid op
    checks_layers.py       chapters 2, 3, 6: the linear layer, the activations, softmax
    checks_sequences.py    chapters 3, 7, 8: the LSTM step and BPTT, convolution, Gram matrix
    checks_meta.py         chapter 4: the meta-gradient of one truncation
    checks_optimizees.py   chapters 5, 6: the quadratic and the MLP, loss, gradient and HVP
    checks_preprocessing.py  chapter 6: Appendix A's preprocessing, forward and backward
    checks_learned.py      the tools the learned optimizers' checks share
    checks_learned_steps.py  chapters 4, 9: the DM and RNNprop steps backwards
    checks_rnnprop.py      chapter 9: RNNprop's relative inputs, forward and backward
    checks_own.py          chapters 10, 11: the array API, Adam over your own arrays
    api.py                 check(name, fn): the one grader and its verdict, for chapters and CLI
    stubs.py         the learner's file
    cli.py           the `minil2o workbook` command
"""
from .lookup import impl  # noqa: F401
from .table import EXERCISES  # noqa: F401


def __getattr__(name):
    """`check` and `Result` load the checks (and the library they test) on first use only, so
    that `minil2o <command>` does not import them to build its parser."""
    if name in ("check", "Result"):
        from . import api
        return getattr(api, name)
    raise AttributeError(f"module 'minil2o.workbook' has no attribute {name!r}")
