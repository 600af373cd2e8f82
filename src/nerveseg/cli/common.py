"""Arguments several subcommands share."""

from __future__ import annotations

import argparse

from nerveseg.config import preset_names


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
    parser.add_argument("--batch-size", type=int, default=16, help="frames per batch (default 16)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 ...")
