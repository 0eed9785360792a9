"""The command line: `minil2o <command> --help` describes each command.

    minil2o info        version, backend, device, default dtype
    minil2o demo        the main job: meta-train on quadratics, compare with tuned baselines
    minil2o train       meta-train a learned optimizer (resumable)
    minil2o evaluate    learned checkpoints against tuned hand-designed optimizers
    minil2o reproduce   the papers' experiments by name
    minil2o bench       meta-training speed and memory; the drop-in step against Adam and PyTorch
    minil2o evaluate-shipped   the shipped optimizers on held-out problems: their cards
    minil2o workbook    the gradient checks as exercises (minil2o/workbook/cli.py)

Bad input gets one line on stderr naming the bad value and what is allowed, and exit code 2;
training stopped by a NaN or Inf (--on-nonfinite stop) exits with code 3; a file that cannot be
read or written, a command whose optional dependency is missing (e.g. matplotlib), running out
of memory or any other error exits with code 1; Ctrl-C exits with code 130 ("minil2o:
interrupted"), and a closed pipe (`minil2o reproduce --list | head`) quietly with code 141. None
of them prints a traceback, unless --debug is given (anywhere on the line).
"""
import argparse
import importlib
import sys

from .errors import DataError, NumericalError, UsageError
from .training.options import add_options, from_options, parse_kwargs
from .validate import flag_type


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
    from .experiments.demo import run_demo
    run_demo(out_dir=args.out, seed=args.seed, epochs=args.epochs, progress=not args.quiet)
    return 0


def cmd_train(args):
    from .training.train import TrainConfig, Trainer
    trainer = Trainer(from_options(TrainConfig, args), out_dir=args.out, resume=args.resume,
                      overwrite=args.overwrite)
    trainer.run(progress=not args.quiet)
    from .validate import shown
    print(f"best score {trainer.best_score:.5g}; optimizer saved to "
          f"{shown(args.out)}/optimizer.npz")
    return 0


def checkpoint_labels(paths):
    """One distinct label per checkpoint path, for the table and the legend: the run folder's name
    for a run's optimizer.npz, the file's name without .npz for any other file, the folder and the
    file where those repeat (snapshots at-1000.npz, at-3000.npz of two runs), and the path itself,
    numbered, where even that repeats."""
    import os
    parts = [os.path.normpath(os.path.abspath(p)).split(os.sep) for p in paths]
    short = [d[-2] if d[-1] == "optimizer.npz" else d[-1].removesuffix(".npz") for d in parts]
    labels = [s if short.count(s) == 1 else f"{d[-2]}/{d[-1].removesuffix('.npz')}"
              for s, d in zip(short, parts)]
    return [label if labels.count(label) == 1 else f"{path} ({i + 1})"
            for i, (label, path) in enumerate(zip(labels, paths))]


def cmd_evaluate(args):
    import os

    from .files.atomic import check_output, replace_with
    from .evaluation.evaluate import CompareSettings, compare, format_table
    from .evaluation.plots import plot_curves
    from .problems import make_family
    from .training.runs import load_optimizer
    from .validate import shown
    baselines = [b.strip() for b in args.baselines.split(",") if b.strip()]
    if not args.checkpoints and not baselines:
        raise UsageError("nothing to evaluate: give optimizer.npz checkpoints and/or --baselines "
                         "(e.g. --baselines sgd,adam)")
    check_output(args.out, folder=True)                    # before any work
    learned = {f"LSTM {label}": load_optimizer(path)
               for label, path in zip(checkpoint_labels(args.checkpoints), args.checkpoints)}
    family = make_family(args.problem, **parse_kwargs(args.problem_arg, "--problem-arg"))
    settings = CompareSettings(steps=args.steps, num_test=args.num_test, num_tune=args.num_tune,
                               seed=args.seed)
    results = compare(family, learned, baselines, settings)
    print(format_table(results, reference=next(iter(learned), None)))
    title = f"{args.problem}, {args.num_test} test problems"
    path = replace_with(os.path.join(args.out, "curves.png"),
                        lambda tmp: plot_curves(results, tmp, title))
    print(f"figure: {shown(path)}")
    return 0


def add_train_arguments(p):
    """TrainConfig's fields as flags (minil2o.training.options), then where the run is written."""
    from .training.train import TrainConfig
    add_options(p, TrainConfig)
    p.add_argument("--out", default="runs/train", help="output directory (checkpoints)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/train_state.npz")
    p.add_argument("--overwrite", action="store_true", help="replace a run already in OUT "
                   "(without it, a folder holding a run is refused)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def add_demo_arguments(p):
    p.add_argument("--out", default="minil2o-demo", help="output directory (default: minil2o-demo)")
    p.add_argument("--seed", type=flag_type("base_seed", "--seed"), default=0)
    p.add_argument("--epochs", type=flag_type("epochs", "--epochs"), default=15,
                   help="meta-training epochs of 10 problems")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def add_evaluate_arguments(p):
    p.add_argument("checkpoints", nargs="*", help="optimizer.npz files written by `minil2o train`")
    p.add_argument("--problem", default="quadratic")
    p.add_argument("--problem-arg", action="append", metavar="KEY=VALUE")
    p.add_argument("--steps", type=flag_type("steps", "--steps"), default=100)
    p.add_argument("--num-test", type=flag_type("num_test", "--num-test"), default=100,
                   help="fresh test problems")
    p.add_argument("--num-tune", type=flag_type("num_tune", "--num-tune"), default=20,
                   help="problems for learning-rate tuning")
    p.add_argument("--baselines", default="sgd,nag,rmsprop,adam", help="comma-separated names")
    p.add_argument("--seed", type=flag_type("base_seed", "--seed"), default=0)
    p.add_argument("--out", default="runs/evaluate")


# name: (what adds its arguments, what runs it, one-line help, description)
COMMANDS = {
    "info": (None, cmd_info, "print the version, the backend, its device and the dtype",
             "Print the version, the array backend, its device and the dtype."),
    "demo": (add_demo_arguments, cmd_demo, "meta-train on quadratics and compare with tuned "
             "baselines", "Meta-train the DM optimizer on 10-d quadratics, tune SGD, NAG, "
             "RMSprop and Adam, evaluate all on 100 fresh functions, print the table and write "
             "the figure (Andrychowicz et al. 2016, Fig. 4 left)."),
    "train": (add_train_arguments, cmd_train, "meta-train a learned optimizer",
              "Meta-train a learned optimizer by truncated BPTT; checkpoints after every epoch "
              "into --out and resumes with --resume."),
    "evaluate": (add_evaluate_arguments, cmd_evaluate, "compare learned checkpoints with tuned "
                 "baselines", "Run learned optimizers (optimizer.npz files) and tuned "
                 "hand-designed ones on the same fresh problems; print a table, write a PNG."),
}
# commands whose module (with add_arguments(parser) and run(args)) is imported to build them
MODULE_COMMANDS = {"reproduce": ("experiments", "run the papers' experiments by name"),
                   "bench": ("bench.throughput", "measure meta-training speed and memory, and "
                             "the drop-in step against Adam and a plain PyTorch module"),
                   "evaluate-shipped": ("use.evaluate_shipped", "the shipped optimizers against "
                                        "tuned Adam on held-out problems: their cards")}


def add_module_command(sub, name, module, help_text):
    """The command `name` from minil2o.<module>. A module that cannot be imported (a missing
    dependency) still gives the command, which reports the ImportError when it is run."""
    try:
        mod = importlib.import_module(f"minil2o.{module}")
    except ImportError as error:
        p = sub.add_parser(name, help=f"{help_text} (unavailable: {one_line(error)})")
        p.set_defaults(func=Unavailable(error))        # takes any arguments (see main)
        return
    p = sub.add_parser(name, help=help_text, description=mod.__doc__.split("\n\n")[0])
    mod.add_arguments(p)
    p.set_defaults(func=mod.run)


class Unavailable:
    """A command whose module failed to import: running it raises that ImportError again."""

    def __init__(self, error):
        self.error = error

    def __call__(self, args):
        raise self.error


def build_parser():
    parser = Parser(
        prog="minil2o", description="Learned optimizers from scratch (Andrychowicz et al. 2016; "
        "Lv et al. 2017). The backend is chosen by MINIL2O_BACKEND=numpy|cupy|strict.",
        epilog="--debug (anywhere on the line): show the traceback of an error.")
    sub = parser.add_subparsers(dest="command", metavar="command")
    sub.required = True
    for name, (add_arguments, func, help_text, description) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=description)
        if add_arguments is not None:
            add_arguments(p)
        p.set_defaults(func=func)
    for name, (module, help_text) in MODULE_COMMANDS.items():
        add_module_command(sub, name, module, help_text)
    from .workbook.cli import add_parser as add_workbook
    add_workbook(sub)
    return parser


PIP_NAMES = {"PIL": "pillow"}          # import name -> the name pip installs it by


def missing_dependency(error):
    """The one-line message for an ImportError of a package minil2o does not ship, else None."""
    name = getattr(error, "name", None)
    if not isinstance(error, ModuleNotFoundError) or not name or name.split(".")[0] == "minil2o":
        return None
    package = name.split(".")[0]
    return (f"this command needs the package {package!r}, which cannot be imported "
            f"({one_line(error)}): install it, e.g. pip install {PIP_NAMES.get(package, package)}")


def main(argv=None):
    """Run the command line argv (default: sys.argv[1:]); returns the exit code. Anything a user
    or a file can cause ends in one line on stderr; --debug (anywhere) shows the traceback."""
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    debug = "--debug" in argv
    try:
        code = run_command([a for a in argv if a != "--debug"])
        sys.stdout.flush()                 # a closed pipe is found here, not at exit
        return code
    except KeyboardInterrupt:
        print("minil2o: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:                # e.g. `minil2o reproduce --list | head`
        silence_stdout()
        return 141
    except Exception as error:
        if debug:
            raise
        code, line = error_line(error)
        print(line, file=sys.stderr)
        return code


def run_command(argv):
    import numpy as np
    parser = build_parser()
    try:                 # every flag is checked here, against minil2o.validate.BOUNDS for numbers
        args, unknown = parser.parse_known_args(argv)
        if unknown and not isinstance(args.func, Unavailable):
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    except SystemExit as done:          # --help, or a bad flag: argparse printed its one line
        return done.code
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return args.func(args)  # a NaN or Inf is reported by minil2o itself, once


def error_line(error):
    """(exit code, one line) for an exception that ends a command."""
    text = one_line(error)
    if isinstance(error, (UsageError, DataError)):
        return 2, f"minil2o: error: {text}"
    if isinstance(error, NumericalError):
        return 3, f"minil2o: stopped: {text}"
    if isinstance(error, MemoryError):
        return 1, ("minil2o: error: out of memory (MemoryError): use smaller sizes (run again "
                   "with --debug to see where)")
    if isinstance(error, OSError):
        return 1, f"minil2o: error: {text}"
    if isinstance(error, ImportError) and missing_dependency(error):
        return 1, f"minil2o: error: {missing_dependency(error)}"
    return 1, (f"minil2o: error: {type(error).__name__}: {text} (a value out of range? run again "
               "with --debug to see the traceback)")


def silence_stdout():
    """Point stdout at /dev/null, so that the interpreter's last flush finds nothing to write."""
    import os
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
