"""Moved: this script is the installed command ``lewm-waypoints`` now (``lewm-waypoints --help``)."""
import os
import sys

NAME = os.path.basename(__file__)
print(f"{NAME}: error: replaced by the command lewm-waypoints; run: lewm-waypoints --help", file=sys.stderr)
sys.exit(2)
