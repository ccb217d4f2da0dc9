"""Moved: this script is the installed command ``lewm-choose-planner`` now (``lewm-choose-planner --help``)."""
import sys

print("experiments/choose_planner.py: error: replaced by the command lewm-choose-planner; run: lewm-choose-planner --help", file=sys.stderr)
sys.exit(2)
