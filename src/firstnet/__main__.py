"""`python -m firstnet` and the `firstnet` command: the command-line tool.

`run` imports the CLI itself, so that a Ctrl-C while the first modules load is one line too.
"""

import sys


def run() -> int:
    try:
        from firstnet.cli import main
    except KeyboardInterrupt:
        print("firstnet: interrupted", file=sys.stderr)
        return 130
    return main()


if __name__ == "__main__":
    raise SystemExit(run())
