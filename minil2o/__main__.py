"""`python -m minil2o` runs the command line (see minil2o/cli.py)."""
import sys

from .cli import main

sys.exit(main())
