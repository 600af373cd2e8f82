"""Evaluate a trained run at the original resolution, as the competition scores.

Validation during training is measured at the training size for speed; this recomputes every
metric on masks resized back to 580x420 and compared with the original masks, per image, and
puts the all-empty prediction's score on the same frames beside it. Each subject's frames are
also played in order as a sweep, for the flicker of the masks (with and without the stream
smoothing) beside their Dice.

A model of several structures is scored per structure, each on its own channel with its own
post-processing; ``evaluation.json`` then holds the mean over structures at the top (the keys a
one-structure file has) and each structure's own under ``structures``, and ``per_image.csv`` a
set of columns per structure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nerveseg import runs
from nerveseg.data.samples import discover_labelled
from nerveseg.errors import NervesegError
from nerveseg.evaluation.holdout import HeldOut, predict_frames, predict_holdout
from nerveseg.evaluation.scoring import (
    FrameResult,
    score_frames,
    write_structures_per_image,
)
from nerveseg.evaluation.temporal_fit import stream_scores
from nerveseg.files import write_json
from nerveseg.inference.sources import open_predictor
from nerveseg.metrics import Scores, all_empty_score, mean_scores
from nerveseg.postprocess import PostprocessParams


@dataclass
class Evaluation:
    """Scores on a set of frames, with the all-empty baseline on the same frames.

    For a model of several structures, ``scores`` and ``all_empty_score`` are the means over
    ``structures``, each structure's own evaluation (see :func:`mean_scores`).
    """

    split: str
    scores: Scores
    all_empty_score: float
    stream: dict | None = None  # the frames as sweeps: flicker beside Dice, see temporal_fit
    structures: dict[str, Evaluation] = field(default_factory=dict)

    def as_dict(self) -> dict:
        extra = {} if self.stream is None else {"stream": self.stream}
        if self.structures:
            extra["structures"] = {
                name: {k: v for k, v in e.as_dict().items() if k != "split"}
                for name, e in self.structures.items()
            }
        return {
            "split": self.split,
            **self.scores.as_dict(),
            "all_empty_score": self.all_empty_score,
            **extra,
        }


@runs.holding_run
def evaluate_run(
    run: Path,
    data_root: Path | None = None,
    *,
    split: str = "val",
    batch_size: int = 16,
    device: str = "auto",
    tta: bool = False,
    postprocess: PostprocessParams | None = None,
    use_postprocess_file: bool = True,
) -> Evaluation:
    """Score ``run``'s model on its validation split (or all frames of ``data_root``).

    A cross-validation folder (``RUN/fold-K/``) is scored out-of-fold on ``val`` (each frame by
    the fold model that held it out) and as the fold ensemble on ``all``. ``tta`` adds the
    horizontal flip; ``postprocess`` (for every structure) defaults to the run's
    ``postprocess.json`` (unless ``use_postprocess_file`` is False), else the model file's own.

    Writes ``evaluation.json`` and ``per_image.csv`` into the run folder when evaluating the
    run's own validation split, so later stages (reports, post-processing) can read them.
    """
    run = Path(run)
    if split == "val":
        structures = predict_holdout(run, data_root, device=device, tta=tta, batch_size=batch_size)
    elif split == "all":
        opened = open_predictor(run, device=device, tta=tta)
        samples = discover_labelled(Path(data_root) if data_root else runs.data_root(run))
        structures = predict_frames(opened, samples, batch_size=batch_size)
    else:
        raise NervesegError(f"--split must be val or all, got {split!r}")
    results, evaluations = {}, {}
    for held in structures:
        params = postprocess or (
            held.postprocess if use_postprocess_file else held.info.postprocess
        )
        results[held.structure], evaluations[held.structure] = _evaluate(held, params, split)
    evaluation = _combined(split, evaluations)
    if split == "val" and data_root is None:
        write_json(run / runs.EVALUATION, evaluation.as_dict())
        write_structures_per_image(run / runs.PER_IMAGE, results)
    return evaluation


def _evaluate(
    held: HeldOut, params: PostprocessParams, split: str
) -> tuple[list[FrameResult], Evaluation]:
    """One structure's per-frame results and evaluation."""
    results, scores = score_frames(held, params)
    truth_nonempty = [r.truth_pixels > 0 for r in results]
    evaluation = Evaluation(
        split, scores, all_empty_score(truth_nonempty), stream=stream_scores(held, params)
    )
    return results, evaluation


def _combined(split: str, evaluations: dict[str, Evaluation]) -> Evaluation:
    """One structure's evaluation as it is; for several, their mean with each one inside."""
    if len(evaluations) == 1:
        return next(iter(evaluations.values()))
    scores = mean_scores({name: e.scores for name, e in evaluations.items()})
    baseline = float(np.mean([e.all_empty_score for e in evaluations.values()]))
    return Evaluation(split, scores, baseline, structures=evaluations)
