"""``python -m objrec`` and the ``objrec`` command (pyproject.toml's script): the CLI, imported
under a Ctrl-C guard. Its import (click, rich, the commands' modules) takes the first second or
more of every command, outside the CLI's own handling of Ctrl-C, where one would print a 20-line
traceback ending in KeyboardInterrupt."""

import sys

INTERRUPTED_AT_START = "interrupted as objrec started: nothing was written"


def run() -> int:
    """The CLI's exit code (``objrec.cli.main``); 130 when Ctrl-C comes as it is imported."""
    try:
        from objrec.cli import main
    except KeyboardInterrupt:
        print(INTERRUPTED_AT_START, file=sys.stderr)
        return 130
    return main()


if __name__ == "__main__":
    sys.exit(run())
