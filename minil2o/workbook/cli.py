"""The `minil2o workbook` command: new, check and hint.

    minil2o workbook new FILE [--force]     write the stubs (never over a file, unless --force;
                                            written whole or not at all)
    minil2o workbook check FILE [NAME ...]  one line per exercise, then a summary; exit 0 only
          [--seed S] [--time-limit SECONDS] when every exercise asked for is right
    minil2o workbook hint NAME              the derivation of one exercise, step by step

minil2o/cli.py hooks it in with `add_parser(subparsers)`; `run(args)` carries it out. A bad name, an
existing FILE or a learner's file that does not import is a UsageError: one line, no traceback.
A learner's function that never returns is stopped after --time-limit seconds (`timed out`), and
threads it leaves behind do not keep the command from exiting.
"""
import importlib.util
import os
import sys
import threading
import traceback

from ..errors import UsageError
from ..validate import check_bound, flag_type, shown
from .table import BY_NAME, EXERCISES


def add_parser(subparsers):
    """Add `workbook` and its three commands to the main parser's subparsers."""
    p = subparsers.add_parser(
        "workbook", help="the gradient checks as exercises, on your own functions",
        description="Write a file of stubs for minil2o's hand-written pieces, check your "
        "implementations with the library's own gradient checks, or read a derivation.")
    sub = p.add_subparsers(dest="workbook_command", metavar="command")
    sub.required = True
    new = sub.add_parser("new", help="write a file of stubs, in the order a learner meets them",
                         description="Write FILE: one stub per exercise, each with the library "
                         "function's name and signature, its equation and shapes.")
    new.add_argument("file", metavar="FILE", help="the workbook file to write, e.g. w.py")
    new.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    check = sub.add_parser("check", help="run the library's checks on your functions",
                           description="Run the gradient checks of every exercise (or of the "
                           "NAMEs given) on the functions of FILE; exit 0 only when all are right.")
    check.add_argument("file", metavar="FILE", help="your workbook file")
    check.add_argument("names", nargs="*", metavar="NAME", help="only these exercises")
    check.add_argument("--seed", type=flag_type("seed", "--seed"), default=None,
                       help="draw the cases from this seed (a failure prints the seed that "
                       "replays it; default: each exercise's own)")
    check.add_argument("--time-limit", type=flag_type("time_limit", "--time-limit"), default=None,
                       metavar="SECONDS",
                       help="stop an exercise that runs longer (default 60)")
    hint = sub.add_parser("hint", help="print the derivation of one exercise",
                          description="Print the steps of one exercise's derivation (no code).")
    hint.add_argument("name", metavar="NAME", help="an exercise, e.g. lstm_step_backward")
    p.set_defaults(func=run)


def run(args):
    """Carry out `minil2o workbook <command>`; returns the exit code."""
    return {"new": cmd_new, "check": cmd_check, "hint": cmd_hint}[args.workbook_command](args)


def known(names):
    """names, or a UsageError naming the first unknown one and listing all."""
    for name in names:
        if name not in BY_NAME:
            raise UsageError(f"unknown exercise {name!r}: choose from {', '.join(BY_NAME)}")
    return names


def cmd_new(args):
    from ..files.atomic import atomic_file
    from .stubs import workbook_source
    if os.path.lexists(args.file) and not args.force:
        raise UsageError(f"{args.file} exists: choose another name, or add --force to overwrite it")
    if os.path.isdir(args.file):
        raise UsageError(f"{args.file} is a folder: a workbook is a file, e.g. {args.file}/w.py")
    source = workbook_source(args.file).encode("utf-8")
    with atomic_file(os.path.realpath(args.file)) as f:   # the old file stays until it is whole
        f.write(source)
    print(f"wrote {len(EXERCISES)} exercises to {shown(args.file)}; check them with "
          f"`minil2o workbook check {shown(args.file)}`")
    return 0


def cmd_hint(args):
    ex = BY_NAME[known([args.name])[0]]
    print(f"{ex.name}: {ex.title} ({ex.equation}; library: {ex.library})\n")
    print(ex.hint)
    return 0


def load_learner(path):
    """Import the learner's file as a module, or a UsageError naming the file and line."""
    if not os.path.isfile(path):
        raise UsageError(f"{path}: no such file (write one with `minil2o workbook new {path}`)")
    spec = importlib.util.spec_from_file_location("minil2o_workbook_learner", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        raise UsageError(f"{path}, line {e.lineno}: cannot import it: SyntaxError: "
                         f"{e.msg}") from None
    except Exception as e:  # anything the learner's module raises at import
        lines = [f.lineno for f in traceback.extract_tb(e.__traceback__)
                 if os.path.abspath(f.filename) == os.path.abspath(path)]
        where = f", line {lines[-1]}" if lines else ""
        message = " ".join(str(e).split())
        raise UsageError(f"{path}{where}: cannot import it: {type(e).__name__}: "
                         f"{message}") from None
    return module


def checked_limit(seconds):
    """--time-limit: seconds in (0, 86400] (minil2o.validate.BOUNDS), default api.TIME_LIMIT."""
    from .api import TIME_LIMIT
    return TIME_LIMIT if seconds is None else check_bound("time_limit", seconds, "--time-limit")


def cmd_check(args):
    from .api import Result, run as run_exercise
    names = known(args.names) or list(BY_NAME)
    limit = checked_limit(args.time_limit)
    if args.seed is not None:
        check_bound("seed", args.seed, "--seed")
    learner = load_learner(args.file)
    results = []
    for name in names:
        fn = getattr(learner, name, None)
        if callable(fn):
            results.append(run_exercise(BY_NAME[name], fn, args.file, args.seed, limit))
        else:
            results.append(Result(BY_NAME[name], "missing", message=f"{args.file} defines no "
                                  f"function {name}"))
        print(results[-1].line())
        sys.stdout.flush()
    counts = {s: sum(r.status == s for r in results)
              for s in ("wrong", "not started", "error", "timed out", "missing")}
    rest = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    right = sum(r.right for r in results)
    print(f"{right} of {len(results)} right" + (f" ({rest})" if rest else ""))
    code = 0 if right == len(results) else 1
    if any(t.is_alive() and not t.daemon for t in threading.enumerate()
           if t is not threading.main_thread()):
        sys.stdout.flush()                       # threads the learner's code left running
        sys.stderr.flush()                       # would keep the process alive: leave now
        os._exit(code)
    return code
