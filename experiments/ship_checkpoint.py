"""Moved: this script is the installed command ``lewm-ship`` now (``lewm-ship --help``)."""
import os
import sys

NAME = os.path.basename(__file__)
print(f"{NAME}: error: replaced by the command lewm-ship; run: lewm-ship --help", file=sys.stderr)
sys.exit(2)
