"""The ``nerveseg`` command line.

One module per subcommand, each with ``add(commands)`` and a thin handler over a plain
function (``generate_dataset``, ``train``, ``evaluate_run``, ``predict_folder`` ...). A :class:`~nerveseg.errors.NervesegError` is printed as
one message (no traceback) with exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from nerveseg import __version__
from nerveseg.cli import (
    bench,
    clean,
    compare,
    evaluate,
    export,
    fit_postprocess,
    inspection,
    live,
    predict,
    report,
    synth,
    train,
    tune,
    view,
)
from nerveseg.cli.common import OneLineParser
from nerveseg.errors import NervesegError

# The order of `nerveseg --help`.
COMMANDS = (
    synth,
    inspection,
    clean,
    train,
    tune,
    compare,
    evaluate,
    fit_postprocess,
    predict,
    live,
    export,
    bench,
    report,
    view,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _quiet_logging()
    try:
        return args.handler(args)
    except NervesegError as exc:
        # One line, always: a message that spans lines (a library's text inside) is joined.
        message = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        print(f"nerveseg: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nerveseg: interrupted", file=sys.stderr)
        return 130


class _CurrentStderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is now, not the one present at the first call.

    ``main`` can run many times in one process (tests, notebooks); a handler holding the first
    call's stream would later write to a closed or redirected one.
    """

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _quiet_logging() -> None:
    """nerveseg's own progress messages on stderr; Lightning's banner and tips only when they warn."""
    handler = _CurrentStderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    ours = logging.getLogger("nerveseg")
    if not ours.handlers:
        ours.addHandler(handler)
    ours.setLevel(logging.INFO)
    for name in (
        "lightning",
        "lightning.pytorch",
        "lightning.fabric",
        "lightning.pytorch.utilities.rank_zero",
        "lightning.fabric.utilities.rank_zero",
    ):
        logging.getLogger(name).setLevel(logging.WARNING)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="nerveseg", description="Nerve segmentation in ultrasound images.")
    parser.add_argument("--version", action="version", version=f"nerveseg {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add(commands)
    return parser


if __name__ == "__main__":
    sys.exit(main())
