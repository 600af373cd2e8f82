"""``nerveseg fit-postprocess``: choose a run's post-processing on its held-out frames."""

from __future__ import annotations

import argparse
from pathlib import Path

from nerveseg.cli.common import non_negative_float, prediction_arguments


def add(commands) -> None:
    parser = commands.add_parser(
        "fit-postprocess",
        help="fit threshold, minimum area, shape, presence and CRF steps on held-out frames",
        description=(
            "Predict the run's validation frames once (out-of-fold for a cross-validation "
            "folder RUN/fold-K), choose each post-processing step greedily by the competition "
            "score, and write RUN/postprocess.json, which evaluate and predict then apply."
        ),
    )
    parser.add_argument("run", type=Path, metavar="RUN", help="a finished run folder")
    parser.add_argument(
        "--margin",
        type=non_negative_float,
        default=None,
        help="score gain a step must beat to be kept (default: 1 / number of frames)",
    )
    parser.add_argument(
        "--no-temporal",
        action="store_true",
        help="leave the stream fields (averaging over frames, pixel and presence hysteresis) off",
    )
    parser.add_argument(
        "--no-crf",
        action="store_true",
        help="leave the dense CRF out of the search (its step is the slowest to try)",
    )
    parser.add_argument(
        "--sweeps",
        type=Path,
        help="fit the stream fields on these sweep videos with truth (NAME.mkv + "
        "NAME_masks.mkv, as synth --video writes) instead of the held-out subjects",
    )
    prediction_arguments(
        parser, "fit on flip-averaged probabilities (then predict and evaluate with --tta too)"
    )
    parser.set_defaults(handler=_run_fit)


def _run_fit(args: argparse.Namespace) -> int:
    from nerveseg.evaluation import fit_run_postprocess
    from nerveseg.runs import POSTPROCESS

    results = fit_run_postprocess(
        args.run,
        tta=args.tta,
        margin=args.margin,
        batch_size=args.batch_size,
        device=args.device,
        temporal=not args.no_temporal,
        crf=not args.no_crf,
        sweeps=args.sweeps,
        log=print,
    )
    for name, result in results.items():
        label = f"{name}: " if len(results) > 1 else ""
        print(
            f"{label}score {result.start_score:.4f} -> {result.score:.4f} "
            f"(all-empty {result.all_empty_score:.4f})"
            + ("" if len(results) > 1 else f"; wrote {args.run / POSTPROCESS}")
        )
    if len(results) > 1:
        print(f"wrote {args.run / POSTPROCESS}")
    return 0
