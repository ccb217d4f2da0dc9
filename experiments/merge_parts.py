"""Moved: this script is the installed command ``lewm-merge`` now (``lewm-merge --help``)."""
import sys

print("experiments/merge_parts.py: error: replaced by the command lewm-merge; run: lewm-merge --help", file=sys.stderr)
sys.exit(2)
