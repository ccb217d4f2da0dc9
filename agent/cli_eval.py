"""``lewm-eval``: not built yet."""

import sys


def main(argv=None) -> int:
    print("lewm-eval: not available yet in this version (see the open issues)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
