"""Andrychowicz et al. 2016, "Learning to learn by gradient descent by gradient descent": its
trained optimizers and experiments as data, and what only this paper shows: the images styled by
the learned optimizer (Fig. 8 and 9) and its updates beside the gradients (Appendix B)."""
import os
from itertools import islice

import numpy as np

from ..backend import to_numpy
from ..evaluation.evaluate import final_theta, trajectory
from ..optimizers.hand import make_hand_optimizer
from ..evaluation.plots import plot_images, plot_update_traces
from ..training.train import TrainConfig
from .runner import rounded
from .spec import (ALL_BASELINES, ART_TRAIN_CONTENT, BEST, MLP, Claim, Experiment, Panel, Part,
                   Pretrained)

DM_MNIST = dict(problem="mnist-mlp", optimizer="dm",
                optimizer_kwargs={"preprocess": "log", "output_scale": 0.1}, meta_lr=0.002,
                problems_per_epoch=10, validation_problems=10, seed=0)
CNN_MNIST = {"layers": "c-p-c-p-f-f", "kernel_size": 5, "batch_norm": True}
DM_CNN = dict(problem="cnn", optimizer="dm", optimizer_kwargs={"preprocess": "log", "output_scale": 0.01},
              per_group=True, meta_lr=0.01, epochs=10, problems_per_epoch=5, validation_problems=3,
              seed=0)

PRETRAINED = {
    "dm-quadratic": Pretrained(TrainConfig(
        problem="quadratic", problem_kwargs={"num_functions": 64}, optimizer="dm",
        optimizer_kwargs={"preprocess": "none", "output_scale": 1.0}, meta_lr=0.005, epochs=15,
        problems_per_epoch=10, validation_problems=20, seed=0),
        "DM optimizer on 10-d quadratics (the demo's run; Andrychowicz et al., Fig. 4 left)"),
    "dm-mnist": Pretrained(TrainConfig(**{**DM_MNIST, "problems_per_epoch": 50, "seed": 0},
                                       epochs=60),
                           "DM optimizer on the base MNIST MLP 784-20-10 sigmoid, 100 steps; "
                           "3,000 problems, the best of 3 seeds on validation "
                           "(tools/train_budget.py)"),
    "dm-cnn": Pretrained(TrainConfig(problem_kwargs={**CNN_MNIST, "batch_size": 32}, **DM_CNN),
                         "DM optimizers (one LSTM for the conv, one for the fc parameters) on the "
                         "MNIST stand-in of the CIFAR-10 CNN", stand_in="dm-mnist"),
    "dm-cnn-sub": Pretrained(TrainConfig(
        problem_kwargs={**CNN_MNIST, "batch_size": 32, "classes": [5, 6, 7, 8, 9]}, **DM_CNN),
        "'LSTM-sub': DM optimizer trained only on the held-out labels 5-9", stand_in="dm-mnist"),
    "dm-art": Pretrained(TrainConfig(
        problem="neural-art", problem_kwargs={"style_image": "gravel", "size": 64,
                                              "content_images": ART_TRAIN_CONTENT},
        optimizer="dm", optimizer_kwargs={"preprocess": "log", "output_scale": 1.0},
        horizon=128, unroll=32, meta_lr=0.005, epochs=15, problems_per_epoch=5,
        validation_problems=3, seed=0),
        "DM optimizer on neural art, 64x64, style 'gravel' (Appendix A preprocessing, no "
        "postprocessing)", stand_in="dm-mnist"),
}


def _cifar_panel(label, classes=None):
    """A Fig. 7 panel: the paper's CIFAR-10 CNN, with the MNIST CNN as its stand-in; classes: an
    optional label subset (CIFAR-5, CIFAR-2)."""
    sub = {} if classes is None else {"classes": classes}
    return Panel(label, "cnn", {"dataset": "mnist", **CNN_MNIST, **sub},
                 cifar={"dataset": "cifar10", "layers": "dm-cifar", **sub})


TWO_CRITERIA = ("final", "horizon-mean")   # baselines tuned for each, reported side by side

EXPERIMENTS = [
    Experiment("dm-fig4-quadratic", "Andrychowicz et al. 2016, Fig. 4 (left)",
               "on 10-d quadratics the LSTM optimizer beats SGD, NAG, RMSprop and ADAM",
               "curves", (Panel("10-d quadratic ||W theta - y||^2", "quadratic"),),
               learned=("dm-quadratic",), num_tune=20,
               grids={b: tuple(2.0 ** k for k in range(-12, 3)) for b in ("adam", "rmsprop")},
               criteria=TWO_CRITERIA, claims=(Claim(
                   "It is clear the learned optimizers substantially outperform the baselines in "
                   "this setting.", "section 3.1, Fig. 4 (left)",
                   (Part("DM below tuned SGD, NAG, RMSprop and Adam", "dm-quadratic",
                         ALL_BASELINES),)),)),
    Experiment("dm-fig4-mnist", "Andrychowicz et al. 2016, Fig. 4 (centre)",
               "on the base MNIST MLP the LSTM optimizer beats all tuned baselines over 100 steps",
               "curves", (MLP,), criteria=TWO_CRITERIA,
               claims=(Claim("In this experiment NAG, ADAM, and RMSprop exhibit roughly equivalent "
                             "performance the LSTM optimizer outperforms them by a significant "
                             "margin.", "section 3.2, Fig. 4 (centre)",
                             (Part("DM below tuned NAG, Adam and RMSprop", "dm-mnist",
                                   ("NAG", "Adam", "RMSprop")),)),)),
    Experiment("dm-fig4-mnist-200", "Andrychowicz et al. 2016, Fig. 4 (right)",
               "run for 200 steps (twice its training horizon) the LSTM optimizer keeps its lead",
               "curves", (MLP,), steps=200, criteria=TWO_CRITERIA,
               claims=(Claim("here we see that the LSTM optimizer continues to outperform the "
                             "baseline optimizers on this task.", "section 3.2, Fig. 4 (right)",
                             (Part("DM below every tuned baseline at step 200", "dm-mnist",
                                   ALL_BASELINES),)),)),
    Experiment("dm-fig5-generalization", "Andrychowicz et al. 2016, Fig. 5",
               "the optimizer trained on 1x20 sigmoid generalizes to 40 units and to 2 hidden "
               "layers, but fails on ReLU", "curves",
               (Panel("40 hidden units", "mnist-mlp", {"hidden": [40]}),
                Panel("2 hidden layers", "mnist-mlp", {"hidden": [20, 20]}),
                Panel("ReLU", "mnist-mlp", {"activation": "relu"})), num_test=100,
               criteria=TWO_CRITERIA,
               claims=(Claim("In the first two cases the LSTM optimizer generalizes well, and "
                             "continues to outperform the hand-designed baselines despite "
                             "operating outside of its training regime.", "section 3.2, Fig. 5",
                             (Part("40 hidden units: DM below every tuned baseline", "dm-mnist",
                                   ALL_BASELINES, "<", (0,)),
                              Part("2 hidden layers: DM below every tuned baseline", "dm-mnist",
                                   ALL_BASELINES, "<", (1,)))),
                       Claim("However, changing the activation function to ReLU makes the "
                             "dynamics of the learning procedure sufficiently different that the "
                             "learned optimizer is no longer able to generalize.",
                             "section 3.2, Fig. 5",
                             (Part("ReLU: DM above the best tuned baseline", "dm-mnist", (BEST,),
                                   ">", (2,)),)))),
    Experiment("dm-fig6-architectures", "Andrychowicz et al. 2016, Fig. 6",
               "final loss as units and layers vary: the LSTM (trained on 1 layer of 20) "
               "generalizes better than the baselines", "final",
               tuple(Panel(f"{L}x{u}", "mnist-mlp", {"hidden": [u] * L})
                     for L in (1, 2) for u in (5, 20, 80)), num_test=100,
               criteria=TWO_CRITERIA, claims=(Claim(
                   "Note that in this setting where the test-set problems are similar enough to "
                   "those in the training set we see even better generalization than the "
                   "baseline optimizers.", "section 3.2, Fig. 6",
                   (Part("DM below every tuned baseline on each of the six architectures",
                         "dm-mnist", ALL_BASELINES),)),)),
    Experiment("dm-fig7-cnn", "Andrychowicz et al. 2016, Fig. 7",
               "on CIFAR-10, CIFAR-5 and CIFAR-2 the LSTM (conv and fc LSTMs) learns much faster "
               "than the baselines; LSTM-sub, trained on held-out labels, transfers",
               "curves", (_cifar_panel("10 classes"), _cifar_panel("5 classes", [0, 1, 2, 3, 4]),
                          _cifar_panel("2 classes", [0, 1])),
               learned=("dm-cnn", "dm-cnn-sub"), num_test=20,
               note="without CIFAR-10 batches the same CNN runs on MNIST (2 conv layers: "
                    "28x28 pools to 7x7)",
               claims=(Claim("The results on the CIFAR image labeling task show that the LSTM "
                             "optimizers outperform hand-engineered optimizers when transferring "
                             "to datasets drawn from the same data distribution.",
                             "section 4, Fig. 7",
                             (Part("the conv and fc LSTMs below every tuned baseline on each "
                                   "label set", "dm-cnn", ALL_BASELINES),)),
                       Claim("The additional optimizer LSTM-sub has been trained only on the "
                             "heldout labels and is hence transferring to a completely novel "
                             "dataset.", "Fig. 7 (caption; its two right plots)",
                             (Part("LSTM-sub below every tuned baseline on the 5 and 2 class "
                                   "sets", "dm-cnn-sub", ALL_BASELINES, "<", (1, 2)),)))),
    Experiment("dm-fig8-9-neural-art", "Andrychowicz et al. 2016, Fig. 8 and 9",
               "on test content images the LSTM trained at 64x64 on one style beats the baselines, "
               "also on a new style at 128x128", "art",
               (Panel("training style, 64x64", "neural-art", {"style_image": "gravel", "size": 64}),
                Panel("new style, 64x64", "neural-art", {"style_image": "wood", "size": 64}),
                Panel("new style, 128x128", "neural-art", {"style_image": "wood", "size": 128})),
               learned=("dm-art",), steps=128, num_test=20,
               claims=(Claim("The LSTM optimizer outperforms all standard optimizers if the "
                             "resolution and style image are the same as the ones on which it was "
                             "trained. Moreover, it continues to perform very well when both the "
                             "resolution and style are changed at test time.",
                             "section 3.4, Fig. 8",
                             (Part("training style at 64x64: DM below every tuned baseline",
                                   "dm-art", ALL_BASELINES, "<", (0,)),
                              Part("new style at 128x128 (\"very well\" read as: below every "
                                   "tuned baseline)", "dm-art", ALL_BASELINES, "<", (2,)))),)),
    Experiment("dm-appendix-b-updates", "Andrychowicz et al. 2016, Appendix B",
               "the updates the LSTM chooses per coordinate, beside the gradients it sees", "updates",
               (Panel("10-d quadratic", "quadratic"), MLP),
               learned=("dm-quadratic", "dm-mnist"), baselines=(), num_test=1),
]


def art_images(exp, runner, learned, part, out_dir):
    """Fig. 8 and 9: per panel, the first test content image styled in exp.steps steps by the first
    learned optimizer and by Adam at its tuned learning rate (OUT/NAME-images.png).
    part: the comparison's numbers (run_comparison), for Adam's learning rate."""
    (label, opt), = list(learned.items())[:1]
    rows = []
    for panel, numbers in zip(exp.panels, part["panels"]):
        rng = np.random.default_rng([runner.seed + 2, 0])
        family = runner.family(panel, "test")
        problem = family.sample(rng)
        lr = numbers["optimizers"].get("Adam", {}).get("lr") or 0.01
        row = [(problem.content, f"content (test)\n{numbers['label']}"), (family.style, "style")]
        for o, title in ((opt, label), (make_hand_optimizer("adam", lr), f"Adam (lr {lr:g})")):
            row.append((problem.to_image(final_theta(problem, o, exp.steps, rng)), title))
        rows.append(row)
    plot_images(rows, os.path.join(out_dir, f"{exp.name}-images.png"))


def update_traces(exp, runner, learned, out_dir, recipes, num_coords=4):
    """Appendix B: for a few coordinates of one test problem per panel, the gradient the learned
    optimizer receives and the update it returns, step by step (panel k: learned recipe k, at
    each of its meta-training seeds, on the same problem and coordinates).
    recipes: label -> recipe of each learned optimizer. Returns the JSON part {"traces": [...]}."""
    traces, numbers = [], []
    for panel, recipe in zip(exp.panels, exp.learned):
        for label in [label for label in learned if recipes[label] == recipe]:
            rng = np.random.default_rng([runner.seed + 2, 0])        # the same problem each time
            problem = runner.family(panel, "test").sample(rng)
            coords = np.sort(np.random.default_rng(runner.seed).choice(problem.n, num_coords,
                                                                       replace=False))
            seen = [(to_numpy(s.grad)[coords], to_numpy(s.update)[coords])
                    for s in islice(trajectory(problem, learned[label], exp.steps, rng), exp.steps)]
            grads, updates = (np.array(a) for a in zip(*seen))             # (steps, k) each
            traces.append({"label": panel.label, "optimizer": label, "coordinates": coords,
                           "gradient": grads, "update": updates})
            numbers.append({"label": panel.label, "optimizer": label, "coordinates": coords.tolist(),
                            "gradient": [rounded(g) for g in grads.T],
                            "update": [rounded(u) for u in updates.T]})
    plot_update_traces(traces, os.path.join(out_dir, f"{exp.name}.png"),
                       f"{exp.source}: updates (orange, left axis) beside gradients (blue, right axis)")
    return {"traces": numbers}
