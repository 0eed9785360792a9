"""Meta-training: the configuration (train.py), the trainer's loop, its run files (runs.py), what a
configuration builds (factories.py), phi as one vector (flat.py), the fault search (faults.py)
and the configuration's fields as flags (options.py)."""
