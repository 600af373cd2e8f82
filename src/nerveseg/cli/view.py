"""``nerveseg view``: the browser viewer for a run or model file, served on 127.0.0.1."""

from __future__ import annotations

import argparse
from pathlib import Path

from nerveseg.cli.common import port


def add(commands) -> None:
    parser = commands.add_parser(
        "view", help="see the nerve: drop scans, a folder, a video or a webcam into a browser page"
    )
    parser.add_argument(
        "source", type=Path, help="a finished run folder, its model.pt, or an exported model.onnx"
    )
    parser.add_argument(
        "--input",
        type=Path,
        help="a folder of scans (and NAME_mask files) to open with; default: the test/ folder of "
        "the run's data when there is one",
    )
    parser.add_argument(
        "--port", type=port, default=0, help="port on 127.0.0.1 (default 0: any free one)"
    )
    parser.add_argument(
        "--no-browser", action="store_true", help="only print the address (headless machines)"
    )
    parser.set_defaults(handler=_run_view)


def _run_view(args: argparse.Namespace) -> int:
    from nerveseg.viewer import serve_viewer

    serve_viewer(
        args.source,
        frames=args.input or _default_frames(args.source),
        port=args.port,
        open_browser=not args.no_browser,
    )
    return 0


def _default_frames(source: Path) -> Path | None:
    """A run's own test frames (``make demo``'s ``demo/data/test``), so the page is not empty."""
    from nerveseg import runs

    if not (source / runs.SPLIT).is_file():
        return None
    test = runs.data_root(source) / "test"
    return test if test.is_dir() else None
