"""Arguments several subcommands share, and the checked types of every number and device.

A value is checked where it enters: ``--batch-size -3`` is refused while the command line is
parsed, in one line naming the flag, before any model is opened or any file is written.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from nerveseg.config import preset_names


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line naming the flag, not a usage block."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def _number(kind: type, test: Callable[[float], bool], need: str) -> Callable[[str], int | float]:
    """An argparse type: ``kind`` parsed from the text, refused unless ``test`` holds."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {need}, got {text!r}") from None
        if (isinstance(value, float) and not math.isfinite(value)) or not test(value):
            raise argparse.ArgumentTypeError(f"expected {need}, got {text!r}")
        return value

    parse.__name__ = need  # argparse names the type in its messages
    return parse


positive_int = _number(int, lambda v: v >= 1, "a whole number of at least 1")
non_negative_int = _number(int, lambda v: v >= 0, "a whole number of at least 0")
positive_float = _number(float, lambda v: v > 0, "a number above 0")
non_negative_float = _number(float, lambda v: v >= 0, "a number of at least 0")
fraction = _number(float, lambda v: 0 <= v <= 1, "a number from 0 to 1")
port = _number(int, lambda v: 0 <= v <= 65535, "a port from 0 to 65535")


def positive_ints(text: str) -> tuple[int, ...]:
    """A comma-separated list of whole numbers of at least 1 (``1,4,16``)."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise argparse.ArgumentTypeError(f"expected whole numbers like 1,4,16, got {text!r}")
    return tuple(positive_int(part) for part in parts)


def device_name(text: str) -> str:
    """``auto``, ``cpu``, ``mps``, ``cuda`` or ``cuda:N``, and only one this machine has."""
    from nerveseg.inference.predictor import check_device

    problem = check_device(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def config_arguments(parser: argparse.ArgumentParser) -> None:
    """``--preset`` and ``--set``: the run config, defaults < preset < overrides."""
    parser.add_argument(
        "--preset",
        default=None,
        help=f"a preset ({', '.join(preset_names())}) or a YAML file; defaults < preset < --set",
    )
    override_argument(parser)


def override_argument(parser: argparse.ArgumentParser) -> None:
    """``--set SECTION.KEY=VALUE``, repeatable."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one setting, e.g. --set train.epochs=5 (repeatable)",
    )


def prediction_arguments(parser: argparse.ArgumentParser, tta_help: str) -> None:
    """``--tta``, ``--batch-size`` and ``--device``: how a command that predicts runs the model."""
    parser.add_argument("--tta", action="store_true", help=tta_help)
    parser.add_argument(
        "--batch-size", type=positive_int, default=16, help="frames per batch (default 16)"
    )
    parser.add_argument(
        "--device", type=device_name, default="auto", help="auto, cpu, cuda, cuda:1 ..."
    )


def model_source(args: argparse.Namespace) -> Path:
    """The ``--run`` or ``--model`` a predicting command was given: exactly one of them."""
    from nerveseg.errors import NervesegError

    if (args.run is None) == (args.model is None):
        raise NervesegError("give exactly one of --run RUN_DIR or --model MODEL_FILE")
    return args.run or args.model
