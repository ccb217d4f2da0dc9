"""Moved: this script is the installed command ``lewm-waypoints`` now (``lewm-waypoints --help``)."""
import sys

print("experiments/build_waypoints.py: error: replaced by the command lewm-waypoints; run: lewm-waypoints --help", file=sys.stderr)
sys.exit(2)
