"""`python -m evaluation`: see evaluation/cli.py."""

import sys

from evaluation.cli import main

sys.exit(main())
