"""The one evaluation pipeline: the optimization loop, learning curves, tuning and the comparison
(evaluate.py), its paired statistics (statistics.py) and its figures (plots.py)."""
