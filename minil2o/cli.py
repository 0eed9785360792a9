"""The command line: `minil2o <command> --help` describes each command.

    minil2o info        version, backend, device, default dtype
"""
import argparse
import sys

from .errors import UsageError


def cmd_info(args):
    from . import __version__
    from .backend import device_name, get_backend
    print(f"minil2o {__version__} | backend {get_backend()} | device {device_name()} | dtype float32")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="minil2o", description="Learned optimizers from scratch (Andrychowicz et al. 2016; "
        "Lv et al. 2017). The backend is chosen by MINIL2O_BACKEND=numpy|cupy|strict.")
    sub = parser.add_subparsers(dest="command", metavar="command")
    sub.required = True
    p = sub.add_parser("info", help="print the version, the backend, its device and the dtype",
                       description="Print the version, the array backend, its device and the dtype.")
    p.set_defaults(func=cmd_info)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UsageError as e:
        print(f"minil2o: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("minil2o: interrupted", file=sys.stderr)
        return 130
