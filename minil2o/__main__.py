"""`python -m minil2o` runs the command line (see minil2o/cli.py). Ctrl-C while the package is
still being imported is handled in minil2o/__init__.py, and here while the command line is."""
import sys

try:
    from .cli import main
except KeyboardInterrupt:
    print("minil2o: interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
