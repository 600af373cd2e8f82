"""``nerveseg bench``: inference speed and memory per model and runtime, as a table and JSON."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nerveseg.cli.common import (
    non_negative_int,
    override_argument,
    positive_float,
    positive_int,
    positive_ints,
)

RUNTIME_HELP = "torch, torch-cl (channels-last), onnx, onnx-int8 (static int8 quantisation)"


def add(commands) -> None:
    parser = commands.add_parser(
        "bench",
        help="measure inference latency, throughput and memory (random weights for presets)",
    )
    parser.add_argument(
        "--model", type=Path, action="append", default=[], help="a model.pt or .onnx (repeatable)"
    )
    parser.add_argument(
        "--preset",
        action="append",
        default=[],
        help="a preset's architecture with random weights (repeatable; default: demo)",
    )
    parser.add_argument(
        "--width",
        type=positive_float,
        action="append",
        default=[],
        help="override the width (repeatable)",
    )
    parser.add_argument(
        "--size",
        type=positive_int,
        nargs=2,
        action="append",
        default=[],
        metavar=("H", "W"),
        help="network input size (repeatable; default: the preset's)",
    )
    override_argument(parser)
    parser.add_argument("--runtimes", default="torch,torch-cl,onnx", help=RUNTIME_HELP)
    parser.add_argument(
        "--threads", type=positive_int, help="threads per runtime (default: all cores)"
    )
    parser.add_argument(
        "--batch-sizes", type=positive_ints, default="1,4,16", help="for the throughput column"
    )
    parser.add_argument("--warmup", type=non_negative_int, default=5)
    parser.add_argument("--iterations", type=positive_int, default=50)
    parser.add_argument("--frames", type=Path, help="folder of real frames (default: synthetic)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.set_defaults(handler=_run_bench)


def _run_bench(args: argparse.Namespace) -> int:
    from nerveseg.files import write_json
    from nerveseg.inference.bench import run_bench

    cases = _cases(args)
    report = run_bench(
        cases,
        tuple(r.strip() for r in args.runtimes.split(",") if r.strip()),
        threads=args.threads,
        warmup=args.warmup,
        iterations=args.iterations,
        batch_sizes=args.batch_sizes,
        frames_dir=args.frames,
    )
    print(format_table(report))
    if args.json:
        write_json(args.json, report)
    return 0


def _cases(args: argparse.Namespace) -> list:
    """Presets x widths x sizes, then model files (at their own size)."""
    from nerveseg.inference.bench import BenchCase, preset_cases

    presets = args.preset or ([] if args.model else ["demo"])
    sizes = [tuple(size) for size in args.size] or None
    cases = preset_cases(presets, args.width or None, sizes, args.overrides)
    return cases + [BenchCase(path.name, (0, 0), path=str(path)) for path in args.model]


def format_table(report: dict[str, Any]) -> str:
    """The results as a fixed-width text table, with the machine line above and a legend below."""
    machine = report["machine"]
    load = machine["load_average"]
    lines = [
        f"{machine['cores']} cores, {machine['threads']} threads, fp32 matmul "
        f"{machine['matmul_gflops']:.0f} GFLOP/s, load average {load['before'][0]:.1f} -> "
        f"{load['after'][0]:.1f}, " + ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
    ]
    if max(load["before"][0], load["after"][0]) > 0.5 * machine["cores"]:
        lines.append("warning: other processes were using the CPU; timings are pessimistic")
    name = max([len(r["model"]) for r in report["results"]] + [5])
    header = (
        f"{'model':<{name}} {'runtime':<9} {'params':>7} {'GFLOP':>6} {'net p50/p95 ms':>15} "
        f"{'e2e p50/p95 ms':>15} {'e2e fps':>7} {'video p50/p95 ms':>17} {'video fps':>9} "
        f"{'fps (batch)':>12} {'GFLOP/s (mm%)':>14} "
        f"{'RSS MB (+run)':>13}"
    )
    lines += [header, "-" * len(header)]
    for r in report["results"]:
        if "error" in r:
            lines.append(f"{r['model']:<{name}} {r['runtime']:<9} error: {r['error']}")
            continue
        lines.append(
            f"{r['model']:<{name}} {r['runtime']:<9} {r['params'] / 1e6:>6.2f}M {r['gflops']:>6.2f} "
            f"{r['net_ms']['p50']:>7.1f}/{r['net_ms']['p95']:<7.1f} "
            f"{r['e2e_ms']['p50']:>7.1f}/{r['e2e_ms']['p95']:<7.1f} {r['e2e_fps']:>7.1f} "
            f"{r['video_ms']['p50']:>8.1f}/{r['video_ms']['p95']:<8.1f} {r['video_fps']:>9.1f} "
            f"{r['throughput_fps']:>7.1f} ({r['best_batch']:>2}) "
            f"{r['achieved_gflops']:>6.1f} ({100 * r['matmul_share']:>3.0f}%) "
            f"{r['rss_peak_mb']:>6.0f} (+{r['rss_peak_mb'] - r['rss_after_imports_mb']:.0f})"
        )
        if "int8_vs_fp32" in r:
            agree = r["int8_vs_fp32"]
            lines.append(
                f"{'':<{name}} int8 vs fp32: max |dp| {agree['max_abs_diff']:.4f}, mean |dp| "
                f"{agree['mean_abs_diff']:.5f}, mask Dice {agree['mask_dice']:.3f} "
                f"({agree['nonempty_fp32_frames']} non-empty fp32 masks)"
            )
    lines.append(LEGEND)
    return "\n".join(lines)


LEGEND = """\
GFLOP: per frame, a multiply-add = 2. net: the network alone at batch 1. e2e: a 580x420 uint8
frame to its RLE at batch 1 (resize, normalise, network, resize back, post-process, encode).
video: a frame decoded from H.264, segmented (stream path), overlay drawn and H.264-encoded.
fps (batch): network throughput at the best batch size. mm%: achieved GFLOP/s as a share of an
fp32 2048x2048 matmul measured in the same process. RSS: peak, (+) above torch and nerveseg
imported (runtime library, model, session, activations)."""
