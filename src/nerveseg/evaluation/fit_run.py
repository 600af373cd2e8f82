"""Fit a run's post-processing on its held-out frames: ``nerveseg fit-postprocess``.

The run's held-out frames are predicted once (:mod:`nerveseg.evaluation.holdout`); each
structure's still steps are then searched greedily on its own channel against its own truth
(:func:`~nerveseg.evaluation.fit.fit_postprocess`), starting from the model file's parameters,
and its stream fields on the held-out subjects played as sweeps
(:mod:`nerveseg.evaluation.temporal_fit`). ``postprocess.json`` holds the result: today's layout
for one structure, one parameter set per structure for several
(:mod:`nerveseg.structure_postprocess`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from nerveseg import runs
from nerveseg.errors import NervesegError
from nerveseg.evaluation.fit import FitResult, fit_postprocess
from nerveseg.evaluation.frame_scorer import FrameScorer
from nerveseg.evaluation.holdout import HeldOut, predict_holdout
from nerveseg.evaluation.sweeps import sweeps_of, video_sweeps
from nerveseg.evaluation.temporal_fit import SweepScorer, fit_temporal
from nerveseg.inference.predictor import pick_device
from nerveseg.inference.sources import open_predictor
from nerveseg.structure_postprocess import StructurePostprocess, save_structure_postprocess


@runs.holding_run
def fit_run_postprocess(
    run: Path,
    *,
    tta: bool = False,
    margin: float | None = None,
    batch_size: int = 16,
    device: str = "auto",
    temporal: bool = True,
    crf: bool = True,
    sweeps: Path | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, FitResult]:
    """Fit ``run``'s post-processing on its held-out frames and write ``RUN/postprocess.json``.

    Held-out frames are the validation split, or the out-of-fold predictions of a
    cross-validation folder. The search starts from the model file's own post-processing.
    ``tta`` fits on flip-averaged probabilities (then predict and evaluate with TTA too).
    ``temporal`` then fits the stream fields (averaging over frames, pixel and presence hysteresis) on
    the held-out subjects played as sweeps (:mod:`nerveseg.evaluation.temporal_fit`), or on
    the sweep videos with truth in the folder ``sweeps`` when given (one structure only: a
    mask video holds one). ``crf`` False leaves the dense CRF's step out (the most costly to
    search).

    Returns:
        per structure name, in channel order, how its parameters were chosen.
    """
    structures = predict_holdout(run, device=device, tta=tta, batch_size=batch_size)
    if sweeps is not None and len(structures) > 1:
        raise NervesegError(
            f"--sweeps: a mask video holds one structure, but {run} segments "
            f"{', '.join(h.structure for h in structures)}; leave --sweeps out to fit the "
            "stream fields on the held-out subjects"
        )
    first = structures[0]
    if log:
        log(
            f"{len(first)} {first.source} frames predicted "
            f"({first.seconds_per_frame * 1000:.1f} ms per frame{' with TTA' if tta else ''})"
        )
    results = {}
    for held in structures:
        structure_log = log
        if log and len(structures) > 1:
            log(f"-- {held.structure}")
            structure_log = _naming(log, held.structure)
        results[held.structure] = _fit_structure(
            held,
            run,
            tta=tta,
            margin=margin,
            device=device,
            temporal=temporal,
            crf=crf,
            sweeps=sweeps,
            log=structure_log,
        )
    fitted = StructurePostprocess.of({name: r.params for name, r in results.items()})
    fits = {name: r.as_dict() for name, r in results.items()}
    save_structure_postprocess(Path(run) / runs.POSTPROCESS, fitted, fits)
    return results


def _naming(log: Callable[[str], None], structure: str) -> Callable[[str], None]:
    """``log`` with the steps' "dice(nerve)" (Dice on frames that show the structure) naming
    ``structure``, so a vessel's lines do not read as the nerve's."""
    return lambda line: log(line.replace("dice(nerve)", f"dice({structure})"))


def _fit_structure(
    held: HeldOut,
    run: Path,
    *,
    tta: bool,
    margin: float | None,
    device: str,
    temporal: bool,
    crf: bool,
    sweeps: Path | None,
    log: Callable[[str], None] | None,
) -> FitResult:
    """One structure's still steps, then its stream fields; see :func:`fit_run_postprocess`."""
    result = fit_postprocess(
        FrameScorer.from_holdout(held, pick_device(device)),
        held.info.postprocess,
        held.frame_shape,
        margin=margin,
        source=held.source,
        crf=crf,
        log=log,
    )
    result.extra.update(tta=tta, predict_seconds_per_frame=held.seconds_per_frame)
    if temporal:
        if sweeps is None:
            played = sweeps_of(held, result.params)
        else:
            opened = open_predictor(Path(run), device=device, tta=tta)
            played = video_sweeps(opened, sweeps, result.params)
        if any(len(sweep) > 1 for sweep in played):
            stream = fit_temporal(SweepScorer(played), result.params, log=log)
            result.params = stream.params
            result.extra["temporal"] = {
                "sweeps": "held-out subjects" if sweeps is None else str(sweeps),
                **stream.as_dict(),
            }
    return result
