"""``nerveseg export``: a run's model as ONNX or TorchScript with its info inside, or the browser
viewer as a static folder (``--format web``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from nerveseg.cli.common import positive_int


def add(commands) -> None:
    parser = commands.add_parser(
        "export", help="export a model to ONNX or TorchScript, or a static browser viewer (web)"
    )
    parser.add_argument(
        "source", type=Path, help="a finished run folder or its model.pt (web: also a .onnx file)"
    )
    parser.add_argument("--format", choices=["onnx", "torchscript", "web"], default="onnx")
    parser.add_argument(
        "--out",
        type=Path,
        help="file to write (default model.onnx / model.ts beside model.pt); for web, a folder "
        "(default web/ beside model.pt)",
    )
    parser.add_argument(
        "--opset", type=positive_int, help="ONNX opset (default 17, tested with ONNX Runtime 1.32)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument(
        "--input",
        type=Path,
        help="web: a folder of scans (and NAME_mask files) the page opens with",
    )
    parser.set_defaults(handler=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    from nerveseg.inference.export import export_model

    if args.format == "web":
        return _run_export_web(args)

    out = export_model(
        args.source, args.out, format=args.format, opset=args.opset, overwrite=args.overwrite
    )
    print(
        f"exported {out} ({out.stat().st_size / 1e6:.1f} MB); predict with: "
        f"nerveseg predict --model {out} --input DIR --out DIR"
    )
    return 0


def _run_export_web(args: argparse.Namespace) -> int:
    from nerveseg.viewer import export_web

    default = (args.source if args.source.is_dir() else args.source.parent) / "web"
    out = export_web(args.source, args.out or default, frames=args.input, overwrite=args.overwrite)
    print(
        f"wrote the viewer to {out}/; serve it from any web server, e.g. "
        f"python -m http.server --directory {out}"
    )
    return 0
