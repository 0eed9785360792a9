"""A trained (or hand-designed) optimizer on your own arrays (dropin.py: minil2o.pretrained) and as
a torch.optim.Optimizer (torch.py)."""
