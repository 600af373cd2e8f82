"""``nerveseg export``: a run's model as ONNX or TorchScript, with its info inside."""

from __future__ import annotations

import argparse
from pathlib import Path

from nerveseg.cli.common import positive_int


def add(commands) -> None:
    parser = commands.add_parser(
        "export", help="export a model to ONNX or TorchScript for deployment"
    )
    parser.add_argument("source", type=Path, help="a finished run folder or its model.pt")
    parser.add_argument("--format", choices=["onnx", "torchscript"], default="onnx")
    parser.add_argument(
        "--out", type=Path, help="file to write (default model.onnx / model.ts beside model.pt)"
    )
    parser.add_argument(
        "--opset", type=positive_int, help="ONNX opset (default 17, tested with ONNX Runtime 1.32)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.set_defaults(handler=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    from nerveseg.inference.export import export_model

    out = export_model(
        args.source, args.out, format=args.format, opset=args.opset, overwrite=args.overwrite
    )
    print(
        f"exported {out} ({out.stat().st_size / 1e6:.1f} MB); predict with: "
        f"nerveseg predict --model {out} --input DIR --out DIR"
    )
    return 0
