"""Lv, Jiang and Li 2017, "Learning Gradient Descent: Better Generalization and Longer Horizons"
(RNNprop): its trained optimizers, the control optimizers of its ablation, and its experiments, as
data. Everything they need is shared with the other paper (minil2o/experiments/runner.py)."""
from ..training.train import TrainConfig
from .dm import DM_MNIST
from .spec import ALL_BASELINES, BEST, MLP, REST, Claim, Experiment, Panel, Part, Pretrained

RNNPROP_MNIST = dict(problem="mnist-mlp", optimizer="rnnprop", weighting="last",
                     selection="train-average", random_scaling=3.0, convex_combination=True,
                     convex_scaling=3.0,     # as trained: Lv et al.'s code scales g with r = 1
                     meta_lr=0.001, problems_per_epoch=10, seed=0)

PRETRAINED = {
    "rnnprop-mnist": Pretrained(TrainConfig(**{**RNNPROP_MNIST, "meta_lr": 1e-4,   # as its code
                                               "problems_per_epoch": 50, "seed": 2}, epochs=60),
                                "RNNprop on the base MLP with Random Scaling (r = 3) and the "
                                "convex combination (Lv et al., section 4); 3,000 problems, the "
                                "best of 3 seeds on validation (tools/train_budget.py)"),
    "rnnprop-mnist-e10": Pretrained(TrainConfig(epochs=10, **RNNPROP_MNIST),
                                    "control: RNNprop with both tricks at the control optimizers' "
                                    "budget (10 epochs of 10 problems, meta learning rate 1e-3)"),
    "dm-mnist-e10": Pretrained(TrainConfig(epochs=10, **DM_MNIST),
                               "control: the DM optimizer at the other control optimizers' "
                               "budget (10 epochs of 10 problems, seed 0)", stand_in="dm-mnist"),
    "dm-mnist-tricks": Pretrained(TrainConfig(
        epochs=10, **{**DM_MNIST, "random_scaling": 3.0, "convex_combination": True,
                      "convex_scaling": 3.0}),
        "control: DM optimizer trained with both RNNprop tricks", stand_in="dm-mnist"),
    "rnnprop-mnist-rs-only": Pretrained(TrainConfig(
        epochs=10, **{**RNNPROP_MNIST, "convex_combination": False}),
        "control: RNNprop with Random Scaling only", stand_in=""),
    "rnnprop-mnist-cc-only": Pretrained(TrainConfig(
        epochs=10, **{**RNNPROP_MNIST, "random_scaling": 0.0, "convex_scaling": 1.0}),
        "control: RNNprop with the convex combination only", stand_in=""),
}

BOTH = ("dm-mnist", "rnnprop-mnist")
LONG_GRIDS = {"adam": tuple(2.0 ** k for k in range(-10, -3)),
              "rmsprop": tuple(2.0 ** k for k in range(-12, -5))}

LV = ("lv",)         # Lv et al. report the loss at the final parameters over the data's minibatches


def lv_experiment(*args, criteria=LV, **kwargs):
    """An experiment of Lv et al. 2017: scored by their metric (criterion "lv") unless told."""
    return Experiment(*args, criteria=criteria, **kwargs)


EXPERIMENTS = [
    lv_experiment(
        "rnnprop-mlp-100", "Lv et al. 2017, Fig. 3 (base MLP, 100 steps)",
        "at 100 steps both RNNprop and the DM optimizer beat every tuned baseline, the DM "
        "optimizer ahead of RNNprop",
        "curves", (MLP,), learned=BOTH, criteria=("lv", "horizon-mean"),
        claims=(Claim("Both DMoptimizer and RNNprop outperform all traditional optimization "
                      "algorithms. DMoptimizer has better performance possibly because of "
                      "overfitting.", "section 5.1",
                      (Part("RNNprop below every tuned baseline", "rnnprop-mnist", ALL_BASELINES),
                       Part("DM below every tuned baseline", "dm-mnist", ALL_BASELINES),
                       Part("DM below RNNprop", "dm-mnist", ("rnnprop-mnist",)))),)),
    lv_experiment(
        "rnnprop-mlp-2000", "Lv et al. 2017, Fig. 4 (left)",
        "at 2,000 steps RNNprop keeps decreasing the loss while the DM optimizer fails",
        "curves", (MLP,), learned=BOTH, baselines=("rmsprop", "adam"), steps=2000,
        num_test=10, num_tune=10, grids=LONG_GRIDS,
        claims=(Claim("The left plot of Figure [4] indicates that RNNprop can achieve comparable "
                      "performance with traditional algorithms for [2,000] steps while "
                      "DMoptimizer fails.", "section 5.1, Fig. 4 (left)",
                      (Part("RNNprop not worse than tuned RMSprop and Adam", "rnnprop-mnist",
                            ("RMSprop", "Adam"), "<="),
                       Part("DM fails: above tuned RMSprop and Adam", "dm-mnist",
                            ("RMSprop", "Adam"), ">"))),)),
    lv_experiment(
        "rnnprop-mlp-10000", "Lv et al. 2017, Fig. 4 (right)",
        "at 10,000 steps the DM optimizer's loss increases; RNNprop keeps decreasing it, but "
        "the tuned baselines overtake it", "curves", (MLP,),
        learned=BOTH, baselines=("rmsprop", "adam"), steps=10000,
        num_test=5, num_tune=10, grids=LONG_GRIDS,
        claims=(Claim("It is clear that DMoptimizer loses the ability to decrease the loss after "
                      "about [200] steps and its loss begins to increase dramatically. RNNprop, "
                      "on the other hand, is able to decrease the loss continuously, though it "
                      "slows down gradually and traditional algorithms overtake it.",
                      "section 5.1, Fig. 4 (right)",
                      (Part("DM ends above RNNprop and above tuned RMSprop and Adam", "dm-mnist",
                            ("rnnprop-mnist", "RMSprop", "Adam"), ">"),
                       Part("traditional algorithms overtake RNNprop: it ends above the best "
                            "tuned baseline", "rnnprop-mnist", (BEST,), ">"))),)),
    lv_experiment(
        "rnnprop-activations", "Lv et al. 2017, Table 2",
        "on ReLU RNNprop (trained on sigmoid) beats the traditional algorithms while the DM "
        "optimizer fails; RNNprop generalizes well to sigmoid, ELU and tanh", "final",
        tuple(Panel(a, "mnist-mlp", {"activation": a}) for a in ("sigmoid", "relu", "elu", "tanh")),
        learned=BOTH, baselines=("adam",), num_test=100,
        claims=(Claim("if the activation function is changed from sigmoid to ReLU, RNNprop can "
                      "still achieve better performance than traditional algorithms while "
                      "DMoptimizer fails.", "section 5.2, Fig. 5",
                      (Part("ReLU: RNNprop below tuned Adam", "rnnprop-mnist", ("Adam",), "<",
                            (1,)),
                       Part("ReLU: DM fails, above tuned Adam", "dm-mnist", ("Adam",), ">",
                            (1,)))),
                Claim("For other activations, RNNprop also generalizes well as shown in "
                      "Table [2].", "section 5.2, Table 2",
                      (Part("sigmoid, ELU and tanh: RNNprop not worse than tuned Adam",
                            "rnnprop-mnist", ("Adam",), "<=", (0, 2, 3)),)))),
    lv_experiment(
        "rnnprop-deeper-mlp", "Lv et al. 2017, Fig. 6",
        "with more sigmoid hidden layers of 20 units RNNprop outperforms Adam until the "
        "network is too deep for anyone", "final",
        tuple(Panel(f"{L} hidden layers", "mnist-mlp", {"hidden": [20] * L})
              for L in (1, 2, 3, 4, 5)),
        learned=BOTH, baselines=("adam",), num_test=100,
        claims=(Claim("As shown in Figure [6], RNNprop can always outstrip traditional "
                      "algorithms until the MLP becomes too deep and none of them can decrease "
                      "its loss in [100] steps.", "section 5.3, Fig. 6",
                      (Part("1 to 4 hidden layers: RNNprop below tuned Adam (the paper's best "
                            "baseline there)", "rnnprop-mnist", ("Adam",), "<", (0, 1, 2, 3)),
                       Part("5 hidden layers (too deep): RNNprop not worse than tuned Adam",
                            "rnnprop-mnist", ("Adam",), "<=", (4,)))),)),
    lv_experiment(
        "rnnprop-cnn", "Lv et al. 2017, Fig. 8",
        "RNNprop (trained on the MLP) beats the baselines on c-c-p-f MNIST; on the other two "
        "only the best baseline beats it; the DM optimizer fails on all three", "curves",
        (Panel("c-c-p-f, MNIST", "cnn", {"layers": "c-c-p-f"}),
         Panel("c-c-p-c-c-p-f-f, MNIST", "cnn", {"layers": "c-c-p-c-c-p-f-f"}),
         Panel("c-c-p-f, CIFAR-10", "cnn", None,       # its MNIST stand-in would be panel 1
               cifar={"layers": "c-c-p-f", "dataset": "cifar10"})),
        learned=BOTH, num_test=20,
        claims=(Claim("RNNprop can outperform traditional algorithms on CNN with structure "
                      "c-c-p-f on dataset MNIST. On the other two CNNs, only the best traditional "
                      "algorithm outperforms RNNprop.", "section 5.4, Fig. 8",
                      (Part("c-c-p-f: RNNprop below every tuned baseline", "rnnprop-mnist",
                            ALL_BASELINES, "<", (0,)),
                       Part("c-c-p-c-c-p-f-f: the best tuned baseline below RNNprop",
                            "rnnprop-mnist", (BEST,), ">", (1,)),
                       Part("c-c-p-c-c-p-f-f: RNNprop below the other tuned baselines",
                            "rnnprop-mnist", (REST,), "<", (1,)))),
                Claim("DMoptimizer fails to train any of the CNNs when the training set is fixed "
                      "to the base MLP.", "section 5.4, Fig. 8",
                      (Part("DM above the best tuned baseline on each CNN", "dm-mnist", (BEST,),
                            ">"),)))),
    lv_experiment(
        "rnnprop-sine-lstm", "Lv et al. 2017, Table 3 and Fig. 9",
        "on the noisy-sine LSTM task RNNprop (trained on the MLP) is comparable to or "
        "better than the traditional algorithms (Adam, Adagrad), also with two layers and with "
        "smaller noise", "final",
        (Panel("default", "sine-lstm"), Panel("2 layers", "sine-lstm", {"num_layers": 2}),
         Panel("small noise", "sine-lstm", {"noise": 0.01})),
        learned=BOTH, baselines=("adam", "adagrad"), num_test=20,
        claims=(Claim("Even though the task is completely different from the task that is used "
                      "for training, RNNprop still has comparable or even better performance "
                      "than traditional algorithms", "section 5.4, Table 3",
                      (Part("default task: RNNprop not worse than tuned Adam and Adagrad",
                            "rnnprop-mnist", ("Adam", "Adagrad"), "<=", (0,)),)),
                Claim("RNNprop still achieve good results when we use [a] smaller noise [...] or "
                      "use [a] two-layer LSTM instead of one-layer.", "section 5.4, Fig. 9",
                      (Part("2 layers and small noise: RNNprop not worse than tuned Adam and "
                            "Adagrad", "rnnprop-mnist", ("Adam", "Adagrad"), "<=", (1, 2)),)))),
    lv_experiment(
        "rnnprop-control", "Lv et al. 2017, section 5.5 (control experiment)",
        "on the ReLU MLP, Random Scaling is the most effective trick", "final",
        (Panel("base MLP, ReLU", "mnist-mlp", {"activation": "relu"}),),
        learned=("rnnprop-mnist-e10", "rnnprop-mnist-rs-only", "rnnprop-mnist-cc-only",
                 "dm-mnist-tricks", "dm-mnist-e10"), baselines=("adam",), num_test=100,
        claims=(Claim("From the figure, we conclude that Random Scaling is the most effective "
                      "trick.", "section 5.5, Fig. 10",
                      (Part("RNNprop with Random Scaling only below RNNprop with the convex "
                            "combination only", "rnnprop-mnist-rs-only",
                            ("rnnprop-mnist-cc-only",)),)),)),
]
