"""Moved: this script is the installed command ``lewm-ship`` now (``lewm-ship --help``)."""
import sys

print("experiments/ship_checkpoint.py: error: replaced by the command lewm-ship; run: lewm-ship --help", file=sys.stderr)
sys.exit(2)
