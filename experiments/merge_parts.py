"""Moved: this script is the installed command ``lewm-merge`` now (``lewm-merge --help``)."""
import os
import sys

NAME = os.path.basename(__file__)
print(f"{NAME}: error: replaced by the command lewm-merge; run: lewm-merge --help", file=sys.stderr)
sys.exit(2)
