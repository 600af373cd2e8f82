"""Arguments several subcommands share."""

from __future__ import annotations

import argparse

from nerveseg.config import preset_names


def config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--preset",
        default=None,
        help=f"a preset ({', '.join(preset_names())}) or a YAML file; defaults < preset < --set",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one setting, e.g. --set train.epochs=5 (repeatable)",
    )
