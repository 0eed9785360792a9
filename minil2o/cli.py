"""The command line: `minil2o <command> --help` describes each command.

    minil2o info        version, backend, device, default dtype
    minil2o demo        the main job: meta-train on quadratics, compare with tuned baselines
    minil2o train       meta-train a learned optimizer (resumable)
    minil2o evaluate    learned checkpoints against tuned hand-designed optimizers
    minil2o reproduce   the papers' experiments by name
    minil2o bench       meta-training speed and memory
    minil2o workbook    the gradient checks as exercises (minil2o/workbook/cli.py)

Bad input gets one line on stderr naming the bad value and what is allowed, and exit code 2;
training stopped by a NaN or Inf (--on-nonfinite stop) exits with code 3; a file that cannot be
read or written exits with code 1. None of them prints a traceback.
"""
import argparse
import json
import sys

from .errors import DataError, NumericalError, UsageError


class Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is reported in one line (no usage block), exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def one_line(error):
    """An exception's message on one line (CUDA and OS errors can span several)."""
    return " ".join(str(error).split())


def cmd_info(args):
    from . import __version__
    from .backend import device_name, get_backend
    print(f"minil2o {__version__} | backend {get_backend()} | device {device_name()} | dtype float32")
    return 0


def cmd_demo(args):
    from .demo import run_demo
    run_demo(out_dir=args.out, seed=args.seed, epochs=args.epochs, progress=not args.quiet)
    return 0


def parse_kwargs(pairs, what):
    """['hidden=[20,20]', 'activation=relu'] -> {'hidden': [20, 20], 'activation': 'relu'}."""
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"bad {what} {pair!r}: expected KEY=VALUE, e.g. activation=relu")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def train_config(args):
    """A TrainConfig from the train command's arguments (defaults follow each paper)."""
    from .train import TrainConfig
    rnnprop = args.optimizer == "rnnprop"
    opt_kwargs = parse_kwargs(args.optimizer_arg, "--optimizer-arg")
    return TrainConfig(
        problem=args.problem, problem_kwargs=parse_kwargs(args.problem_arg, "--problem-arg"),
        optimizer=args.optimizer, optimizer_kwargs=opt_kwargs, per_group=args.per_group,
        horizon=args.horizon,
        unroll=args.unroll, weighting=args.weighting or ("last" if rnnprop else "all"),
        meta_lr=args.meta_lr, meta_batch=args.meta_batch, epochs=args.epochs,
        problems_per_epoch=args.problems_per_epoch, clip_norm=args.clip_norm,
        second_derivatives=args.second_derivatives, random_scaling=args.random_scaling,
        convex_combination=args.convex_combination,
        selection=args.selection or ("train-average" if rnnprop else "validation"),
        validation_problems=args.validation_problems, seed=args.seed, dtype=args.dtype,
        on_nonfinite=args.on_nonfinite, init_from=args.init_from)


def cmd_train(args):
    from .train import Trainer
    trainer = Trainer(train_config(args), out_dir=args.out, resume=args.resume)
    trainer.run(progress=not args.quiet)
    print(f"best score {trainer.best_score:.5g}; optimizer saved to {args.out}/optimizer.npz")
    return 0


def cmd_evaluate(args):
    import os

    from .evaluate import compare, format_table
    from .plots import plot_curves
    from .problems import make_family
    from .train import load_optimizer
    baselines = [b.strip() for b in args.baselines.split(",") if b.strip()]
    if not args.checkpoints and not baselines:
        raise UsageError("nothing to evaluate: give optimizer.npz checkpoints and/or --baselines "
                         "(e.g. --baselines sgd,adam)")
    learned = {}
    for path in args.checkpoints:
        label = os.path.basename(os.path.dirname(os.path.abspath(path))) or path
        learned[f"LSTM {label}"] = load_optimizer(path)
    family = make_family(args.problem, **parse_kwargs(args.problem_arg, "--problem-arg"))
    results = compare(family, learned, baselines, steps=args.steps, num_test=args.num_test,
                      num_tune=args.num_tune, seed=args.seed)
    print(format_table(results))
    os.makedirs(args.out, exist_ok=True)
    path = plot_curves(results, os.path.join(args.out, "curves.png"), f"{args.problem}, "
                       f"{args.num_test} test problems")
    print(f"figure: {path}")
    return 0


def add_train_arguments(p):
    p.add_argument("--problem", default="quadratic", help="problem family (default: quadratic)")
    p.add_argument("--problem-arg", action="append", metavar="KEY=VALUE",
                   help="problem setting, e.g. num_functions=64 or hidden=[40] (repeatable)")
    p.add_argument("--optimizer", default="dm", help="learned optimizer: dm or rnnprop")
    p.add_argument("--optimizer-arg", action="append", metavar="KEY=VALUE",
                   help="optimizer setting, e.g. preprocess=none or output_scale=1.0 (repeatable)")
    p.add_argument("--per-group", action="store_true",
                   help="one learned optimizer per parameter group (e.g. conv and fc of a CNN)")
    p.add_argument("--horizon", type=int, default=100, help="optimizee steps per problem (T)")
    p.add_argument("--unroll", type=int, default=20, help="steps per truncation (K)")
    p.add_argument("--weighting", choices=("all", "last"), help="meta-loss weights (dm: all; rnnprop: last)")
    p.add_argument("--meta-lr", type=float, default=1e-3, help="Adam's learning rate on phi")
    p.add_argument("--meta-batch", type=int, default=1, help="problems per meta-update")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--problems-per-epoch", type=int, default=20)
    p.add_argument("--clip-norm", type=float, default=0.0, help="clip the meta-gradient norm (0: off)")
    p.add_argument("--second-derivatives", action="store_true", help="keep the dashed edges (HVPs)")
    p.add_argument("--random-scaling", type=float, default=0.0, help="RNNprop's r (0: off)")
    p.add_argument("--convex-combination", action="store_true", help="RNNprop's convex combination")
    p.add_argument("--selection", choices=("validation", "train-average"),
                   help="checkpoint selection (dm: validation; rnnprop: train-average)")
    p.add_argument("--validation-problems", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    p.add_argument("--on-nonfinite", default="skip", choices=("skip", "stop"),
                   help="what to do when a loss or meta-gradient is NaN or Inf")
    p.add_argument("--init-from", default="", metavar="PATH",
                   help="start from this optimizer.npz instead of a random phi (with --per-group, "
                        "a single optimizer's file starts every group)")
    p.add_argument("--out", default="runs/train", help="output directory (checkpoints)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/train_state.npz")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser():
    parser = Parser(
        prog="minil2o", description="Learned optimizers from scratch (Andrychowicz et al. 2016; "
        "Lv et al. 2017). The backend is chosen by MINIL2O_BACKEND=numpy|cupy|strict.")
    sub = parser.add_subparsers(dest="command", metavar="command")
    sub.required = True

    p = sub.add_parser("info", help="print the version, the backend, its device and the dtype",
                       description="Print the version, the array backend, its device and the dtype.")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("demo", help="meta-train on quadratics and compare with tuned baselines",
                       description="Meta-train the DM optimizer on 10-d quadratics, tune SGD, NAG, "
                       "RMSprop and Adam, evaluate all on 100 fresh functions, print the table and "
                       "write the figure (Andrychowicz et al. 2016, Fig. 4 left).")
    p.add_argument("--out", default="minil2o-demo", help="output directory (default: minil2o-demo)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=15, help="meta-training epochs of 10 problems")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("train", help="meta-train a learned optimizer",
                       description="Meta-train a learned optimizer by truncated BPTT; checkpoints "
                       "after every epoch into --out and resumes with --resume.")
    add_train_arguments(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="compare learned checkpoints with tuned baselines",
                       description="Run learned optimizers (optimizer.npz files) and tuned "
                       "hand-designed ones on the same fresh problems; print a table, write a PNG.")
    p.add_argument("checkpoints", nargs="*", help="optimizer.npz files written by `minil2o train`")
    p.add_argument("--problem", default="quadratic")
    p.add_argument("--problem-arg", action="append", metavar="KEY=VALUE")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--num-test", type=int, default=100, help="fresh test problems")
    p.add_argument("--num-tune", type=int, default=20, help="problems for learning-rate tuning")
    p.add_argument("--baselines", default="sgd,nag,rmsprop,adam", help="comma-separated names")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/evaluate")
    p.set_defaults(func=cmd_evaluate)

    for name, module, help_text in (("reproduce", "experiments", "run the papers' experiments by name"),
                                    ("bench", "bench", "measure meta-training speed and memory")):
        try:
            mod = __import__(f"minil2o.{module}", fromlist=["add_arguments", "run"])
        except ImportError:
            continue
        p = sub.add_parser(name, help=help_text, description=mod.__doc__.split("\n\n")[0])
        mod.add_arguments(p)
        p.set_defaults(func=mod.run)
    from .workbook.cli import add_parser as add_workbook
    add_workbook(sub)
    return parser


def main(argv=None):
    import numpy as np
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return args.func(args)  # a NaN or Inf is reported by minil2o itself, once
    except (UsageError, DataError) as e:
        print(f"minil2o: error: {one_line(e)}", file=sys.stderr)
        return 2
    except NumericalError as e:
        print(f"minil2o: stopped: {one_line(e)}", file=sys.stderr)
        return 3
    except OSError as e:
        print(f"minil2o: error: {one_line(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("minil2o: interrupted", file=sys.stderr)
        return 130
