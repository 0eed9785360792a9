"""`minil2o bench`: meta-training throughput and memory (throughput.py), against plain PyTorch
(torch_epoch.py), with a per-step breakdown (breakdown.py) and the timers (timing.py)."""
