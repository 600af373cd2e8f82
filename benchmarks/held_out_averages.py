"""Average held-out probabilities over trained runs and test-time views; Dice per fold.

``recipe_screen.py`` scores one run at a time. Two questions need several at once: do two recipes
make *different* mistakes (then their average beats both), and does a network gain from seeing a
frame as its augmentation showed it during training (zoomed, turned), not only as it is?

Each ``--combo NAME=MEMBER,MEMBER,...`` is scored on every ``--folds`` fold: its members' held-out
probabilities are averaged at the network's size, then thresholded at each of ``--thresholds``
and scored at full resolution as ``evaluate`` does (Dice on nerve frames). A member is a
candidate folder of a screen (``OUT/<candidate>``, holding ``fold-K/`` runs) with an optional
view after ``@``:

- ``id`` (the default): the frame as it is;
- ``flip``: mirrored left to right;
- ``zoomS``: magnified (``S < 1``, e.g. ``zoom0.9`` shows the central 90%) or shrunk (``S > 1``);
- ``turnD``: turned by ``D`` degrees (e.g. ``turn-10``).

Each view's prediction is mapped back onto the frame before averaging; the pixels a magnified view
does not cover are left to the other members. Prints one row per combo and threshold; asserts
nothing.

``--fixed NAME=KEY=VALUE,...`` adds a row per combo with post-processing chosen beforehand (the
``postprocess`` keys, e.g. ``hull=keep_largest=true,convex_hull=true``): a choice made on other
folds is scored on these without a fit.

``--cross-fit`` adds a row per combo with the post-processing fitted as ``fit-postprocess`` fits
it (threshold, minimum area, largest component, holes, closing, maximum area; the dense CRF too
with ``--crf``): a fold's held-out subjects split in two halves (alternately, in name order),
each half is scored by the fit made on the other, so no frame is scored by a choice made on it.

    python benchmarks/held_out_averages.py --folds 0 1 2 --thresholds 0.4 0.5 \\
        --combo attention=/tmp/s7/screen/cpu-attention-unet-22 \\
        --combo attention+segnet=/tmp/s7/screen/cpu-attention-unet-22,/tmp/s6/screen/bf16-augment-elastic-32 \\
        --combo views=/tmp/s7/screen/cpu-attention-unet-22@id,/tmp/s7/screen/cpu-attention-unet-22@zoom0.9,/tmp/s7/screen/cpu-attention-unet-22@zoom1.1
    python benchmarks/held_out_averages.py --folds 0 1 2 --cross-fit \\
        --combo attention=/tmp/s9/screen/preset
    python benchmarks/held_out_averages.py --folds 0 1 --combo preset=/tmp/s9/screen/preset \\
        --fixed largest=keep_largest=true --fixed hull=keep_largest=true,convex_hull=true
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import torch
import yaml
from torch.nn import functional as F

from nerveseg.errors import ConfigError
from nerveseg.evaluation.fit import fit_postprocess
from nerveseg.evaluation.frame_scorer import FrameScorer
from nerveseg.evaluation.holdout import HeldOut, predict_frames, split_samples
from nerveseg.inference.predictor import BatchOutput, Predictor
from nerveseg.inference.sources import open_predictor
from nerveseg.postprocess import PostprocessParams


@dataclass(frozen=True)
class View:
    """How a frame is shown to the network: mirrored, scaled about its centre, turned."""

    flip: bool = False
    scale: float = 1.0
    degrees: float = 0.0


def parse_view(text: str) -> View:
    """``id``, ``flip``, ``zoomS`` or ``turnD`` (see the module docstring)."""
    if text in ("", "id"):
        return View()
    if text == "flip":
        return View(flip=True)
    for prefix, field in (("zoom", "scale"), ("turn", "degrees")):
        if text.startswith(prefix):
            return View(**{field: float(text.removeprefix(prefix))})
    raise SystemExit(f"unknown view {text!r}: use id, flip, zoomS or turnD")


def parse_combo(text: str) -> tuple[str, list[tuple[Path, View]]]:
    """``NAME=MEMBER,MEMBER`` with ``MEMBER`` = ``CANDIDATE_DIR[@VIEW]``."""
    name, sep, members = text.partition("=")
    if not sep or not members:
        raise SystemExit(f"--combo {text!r}: write NAME=CANDIDATE_DIR[@VIEW],...")
    parsed = []
    for member in members.split(","):
        folder, _, view = member.partition("@")
        parsed.append((Path(folder), parse_view(view)))
    return name, parsed


def parse_fixed(text: str) -> tuple[str, dict[str, object]]:
    """``NAME=KEY=VALUE,KEY=VALUE`` -> the name and the ``postprocess`` changes (YAML values)."""
    name, sep, pairs = text.partition("=")
    changes = {}
    for pair in pairs.split(",") if sep else []:
        key, equals, value = pair.partition("=")
        if not equals:
            raise SystemExit(f"--fixed {text!r}: write NAME=KEY=VALUE,... (postprocess keys)")
        changes[key] = yaml.safe_load(value)
    if not changes:
        raise SystemExit(f"--fixed {text!r}: write NAME=KEY=VALUE,... (postprocess keys)")
    try:  # refuse an unknown key or a bad value before any frame is predicted
        PostprocessParams.from_dict({**PostprocessParams().to_dict(), **changes}, f"--fixed {name}")
    except ConfigError as exc:
        raise SystemExit(str(exc)) from None
    return name, changes


def changed_dice(scorer: FrameScorer, held: HeldOut, changes: dict[str, object]) -> float:
    """Dice on nerve frames with the run's post-processing changed as ``changes`` say."""
    params = PostprocessParams.from_dict({**held.postprocess.to_dict(), **changes}, "--fixed")
    return scorer.summary(params)[1]


def affine(view: View, height: int, width: int) -> torch.Tensor:
    """The ``(3, 3)`` map from output to input coordinates that ``affine_grid`` samples with:
    a true rotation on a non-square frame, so turns keep shapes."""
    angle = math.radians(view.degrees)
    cos, sin = math.cos(angle) * view.scale, math.sin(angle) * view.scale
    return torch.tensor(
        [[cos, -sin * height / width, 0.0], [sin * width / height, cos, 0.0], [0.0, 0.0, 1.0]]
    )


def warp(batch: torch.Tensor, matrix: torch.Tensor, padding: str) -> torch.Tensor:
    grid = F.affine_grid(matrix[:2].expand(len(batch), 2, 3), batch.shape, align_corners=False)
    return F.grid_sample(batch, grid, padding_mode=padding, align_corners=False)


class ViewPredictor:
    """``base`` on the viewed batch, its probabilities mapped back; NaN where the view did not
    reach (a magnified view's margins)."""

    def __init__(self, base: Predictor, view: View) -> None:
        self.base = base
        self.view = view

    def __call__(self, batch: torch.Tensor) -> BatchOutput:
        shown = batch.flip(-1) if self.view.flip else batch
        if self.view.scale == 1.0 and self.view.degrees == 0.0:
            probabilities = self.base(shown).probabilities
        else:
            matrix = affine(self.view, *batch.shape[-2:])
            seen = self.base(warp(shown, matrix, "border")).probabilities
            back = torch.linalg.inv(matrix)
            reached = warp(torch.ones_like(seen), back, "zeros")
            probabilities = torch.where(
                reached > 0.5, warp(seen, back, "zeros") / reached.clamp_min(1e-6), torch.nan
            )
        return BatchOutput(probabilities.flip(-1) if self.view.flip else probabilities, None)


@cache
def held_out(candidate: Path, fold: int, view: View) -> HeldOut:
    """One fold run's validation (held-out) frames predicted through ``view``."""
    run = candidate / f"fold-{fold}"
    opened = open_predictor(run)
    opened.predictor = ViewPredictor(opened.predictor, view)
    return predict_frames(opened, split_samples(run), source="validation")[0]


def averaged(members: list[HeldOut]) -> HeldOut:
    """The members' mean probabilities, over the members that reached each pixel."""
    names = [s.name for s in members[0].samples]
    for member in members[1:]:
        if [s.name for s in member.samples] != names:
            raise SystemExit("members hold out different frames: compare runs of one split")
    stack = np.stack([m.probabilities for m in members])
    reached = ~np.isnan(stack)
    total = np.where(reached, stack, 0.0).sum(0)
    mean = np.divide(total, reached.sum(0), out=np.zeros_like(total), where=reached.any(0))
    return dataclasses.replace(members[0], probabilities=mean.astype(np.float32))


def cross_fitted_dice(held: HeldOut, crf: bool) -> tuple[float, list[str]]:
    """Dice on nerve frames, each half of the subjects post-processed as fitted on the other
    half; with the two fits, described."""
    first, second = held.subject_halves()
    values, fits = [], []
    for fit_half, score_half in ((first, second), (second, first)):
        fitting, scoring = held.of_subjects(fit_half), held.of_subjects(score_half)
        fitted = fit_postprocess(
            FrameScorer.from_holdout(fitting), fitting.postprocess, fitting.frame_shape, crf=crf
        ).params
        scorer = FrameScorer.from_holdout(scoring)
        values.append(scorer.per_image(fitted)[scorer.nerve])
        fits.append(fitted.describe())
    return float(np.concatenate(values).mean()), fits


def print_row(name: str, label: str, scores: list[float]) -> None:
    cells = " ".join(f"{s:8.4f}" for s in scores)
    spread = f"{np.mean(scores):.4f} +- {np.std(scores, ddof=min(1, len(scores) - 1)):.4f}"
    print(f"{name:<28} {label:>5} {cells}  {spread}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--combo", action="append", required=True, help="NAME=MEMBER,MEMBER,...")
    parser.add_argument("--folds", type=int, nargs="+", default=[0])
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.5])
    parser.add_argument("--cross-fit", action="store_true", help="add the fitted post-processing")
    parser.add_argument("--crf", action="store_true", help="let --cross-fit try the dense CRF")
    parser.add_argument(
        "--fixed", action="append", default=[], help="NAME=KEY=VALUE,... (postprocess keys)"
    )
    args = parser.parse_args()
    combos = [parse_combo(text) for text in args.combo]
    fixed = [parse_fixed(text) for text in args.fixed]
    print(f"{'combo':<28} {'thr':>5} " + " ".join(f"fold {k:<3}" for k in args.folds) + "  mean")
    for name, members in combos:
        held = {fold: averaged([held_out(c, fold, v) for c, v in members]) for fold in args.folds}
        scorers = {fold: FrameScorer.from_holdout(held[fold]) for fold in args.folds}
        rows = [(f"{t:.2f}", name, {"threshold": t}) for t in args.thresholds]
        rows += [("fixed", f"{name} {label}", changes) for label, changes in fixed]
        for kind, title, changes in rows:
            scores = [changed_dice(scorers[f], held[f], changes) for f in args.folds]
            print_row(title, kind, scores)
        if args.cross_fit:
            fitted = {fold: cross_fitted_dice(held[fold], args.crf) for fold in args.folds}
            print_row(name, "fit", [fitted[fold][0] for fold in args.folds])
            for fold in args.folds:
                print(f"    fold {fold} fits (on each half): {' | '.join(fitted[fold][1])}")


if __name__ == "__main__":
    main()
