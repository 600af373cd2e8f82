"""``nerveseg synth``: write a synthetic data set in the Kaggle layout."""

from __future__ import annotations

import argparse
from pathlib import Path

from nerveseg.cli.common import (
    config_arguments,
    fraction,
    non_negative_int,
    positive_float,
    positive_int,
)
from nerveseg.config import load_config
from nerveseg.errors import NervesegError


def add(commands) -> None:
    parser = commands.add_parser(
        "synth", help="write a synthetic ultrasound data set in the Kaggle layout"
    )
    parser.add_argument(
        "out", type=Path, help="folder to write train/, test/, train_masks.csv into"
    )
    config_arguments(parser)
    parser.add_argument("--subjects", type=positive_int, help="labelled subjects (default 47)")
    parser.add_argument(
        "--frames-per-subject", type=positive_int, help="frames per subject (default 120)"
    )
    parser.add_argument("--test-frames", type=non_negative_int, help="unlabelled frames in test/")
    parser.add_argument("--width", type=positive_int, help="frame width in pixels (default 580)")
    parser.add_argument("--height", type=positive_int, help="frame height in pixels (default 420)")
    parser.add_argument("--empty-fraction", type=fraction, help="share of frames with no nerve")
    parser.add_argument(
        "--contradictory-pairs",
        type=non_negative_int,
        help="near-duplicate pairs labelled inconsistently",
    )
    parser.add_argument("--seed", type=int, help="random seed; same seed, same files")
    parser.add_argument(
        "--vessel",
        action="store_true",
        help="label the artery as a second structure: masks hold 1 = nerve, 2 = vessel "
        "(train with --set 'data.structures={nerve: [1], vessel: [2]}')",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier synthetic set")
    parser.add_argument(
        "--video",
        action="store_true",
        help="instead of the Kaggle layout, write each subject's sweep as a lossless video "
        "(sweep_S.mkv) with its truth masks (sweep_S_masks.mkv)",
    )
    parser.add_argument(
        "--fps",
        type=positive_float,
        default=30.0,
        help="frame rate of the --video sweeps (default 30)",
    )
    parser.set_defaults(handler=_run_synth)


def _run_synth(args: argparse.Namespace) -> int:
    from nerveseg.data.synth import generate_dataset
    from nerveseg.data.synth.video import generate_sweeps

    flags = {
        "subjects": args.subjects,
        "frames_per_subject": args.frames_per_subject,
        "test_frames": args.test_frames,
        "width": args.width,
        "height": args.height,
        "empty_fraction": args.empty_fraction,
        "contradictory_pairs": args.contradictory_pairs,
        "seed": args.seed,
        "vessel": True if args.vessel else None,
    }
    overrides = list(args.overrides) + [f"synth.{k}={v}" for k, v in flags.items() if v is not None]
    config = load_config(args.preset, overrides).synth
    if args.video and config.vessel:
        raise NervesegError("--video writes nerve masks only; drop --vessel (or synth.vessel)")
    if args.video:
        sweeps = generate_sweeps(args.out, config, fps=args.fps, overwrite=args.overwrite)
        print(
            f"wrote {len(sweeps.videos)} sweep videos ({sweeps.frames} frames, "
            f"{sweeps.nerve_frames} with a nerve, {sweeps.fps:g} frames/s) and their truth "
            f"masks to {sweeps.root} in {sweeps.seconds:.1f} s"
        )
        return 0
    summary = generate_dataset(args.out, config, overwrite=args.overwrite)
    labels = " (masks: 1 = nerve, 2 = vessel)" if config.vessel else ""
    print(
        f"wrote {summary.train_frames} labelled frames ({summary.empty_frames} without a nerve)"
        f"{labels} and {summary.test_frames} test frames to {summary.root} in "
        f"{summary.seconds:.1f} s"
    )
    return 0
