"""Moved: this script is the installed command ``lewm-choose-planner`` now (``lewm-choose-planner --help``)."""
import os
import sys

NAME = os.path.basename(__file__)
print(f"{NAME}: error: replaced by the command lewm-choose-planner; run: lewm-choose-planner --help", file=sys.stderr)
sys.exit(2)
