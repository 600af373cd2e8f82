"""A deterministic synthetic B-mode brachial plexus data set in the exact Kaggle layout.

The demo, the tests and the near-duplicate benchmark need data that behaves like the real
competition set without shipping it: subjects scanned as probe sweeps (consecutive frames alike),
~59% frames without a labelled nerve, and optionally the real set's known flaw, near-identical
pictures labelled once with and once without the nerve. Each subject's anatomy is drawn once on a
larger canvas (:mod:`nerveseg.data.synth.canvas`); a frame is a cheap warp of it for the probe's
pose plus fresh speckle (:mod:`nerveseg.data.synth.scene`), so hundreds of full-size frames take
seconds. This module writes the files; the subjects' sweeps come from
:mod:`nerveseg.data.synth.subjects`, which the sweep videos share.
"""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from nerveseg.data.rle import rle_encode
from nerveseg.data.synth.config import SynthConfig, check_synth_config
from nerveseg.data.synth.scene import render_frame, speckle_bank, vessel_mask
from nerveseg.data.synth.subjects import (
    PAIRS_STREAM,
    SPECKLE_STREAM,
    TEST_STREAM,
    TRAIN_STREAM,
    draw_sweep,
    stream_rng,
    subject_plan,
)
from nerveseg.errors import NervesegError
from nerveseg.files import atomic_path, write_text

__all__ = ["SynthSummary", "generate_dataset"]

# Test subjects contribute at most this many frames each, so the test set spans several people.
_TEST_FRAMES_PER_SUBJECT = 20
_WRITTEN = ("train", "test", "train_masks.csv", "synth_truth.csv")


@dataclass
class SynthSummary:
    """What :func:`generate_dataset` wrote, for the CLI to print."""

    root: Path
    train_frames: int
    empty_frames: int
    test_frames: int
    contradictory_pairs: int
    seconds: float


def _choose_pairs(
    rng: np.random.Generator, plans: list[np.ndarray], count: int
) -> dict[int, list[tuple[int, int]]]:
    """Pick ``count`` (frame with nerve, empty frame) pairs, each within one subject.

    Returns ``{subject index: [(frame a, frame b), ...]}`` with 0-based indices; frame b will get
    frame a's picture and keep its empty label.
    """
    present = [list(rng.permutation(np.flatnonzero(plan))) for plan in plans]
    empty = [list(rng.permutation(np.flatnonzero(~plan))) for plan in plans]
    capacity = sum(min(len(p), len(e)) for p, e in zip(present, empty, strict=True))
    if count > capacity:
        raise NervesegError(
            f"contradictory_pairs={count} does not fit: each pair needs a frame with the nerve "
            f"and an empty frame of the same subject, and these settings have room for {capacity}. "
            "Lower contradictory_pairs, or raise subjects or frames_per_subject."
        )
    pairs: dict[int, list[tuple[int, int]]] = {}
    for _ in range(count):
        room = np.array([min(len(p), len(e)) for p, e in zip(present, empty, strict=True)], float)
        subject = int(rng.choice(len(plans), p=room / room.sum()))
        pairs.setdefault(subject, []).append(
            (int(present[subject].pop()), int(empty[subject].pop()))
        )
    return pairs


def _prepare_root(out: Path, overwrite: bool) -> None:
    """Make ``out`` ready; never touch a user's files except the ones this generator writes."""
    if out.exists() and not out.is_dir():
        raise NervesegError(f"{out} exists and is not a folder; choose another output folder.")
    if out.is_dir() and any(out.iterdir()):
        names = sorted(p.name for p in out.iterdir())
        if not set(names) & set(_WRITTEN):  # no synthetic set here: someone else's folder
            shown = ", ".join(names[:3]) + (" ..." if len(names) > 3 else "")
            raise NervesegError(
                f"{out}: holds files nerveseg synth did not write ({shown}) and no synthetic "
                "data set; choose an empty or new folder"
            )
        if not overwrite:
            raise NervesegError(
                f"{out} already exists and is not empty. Choose another folder, or pass "
                "--overwrite to replace its train/, test/, train_masks.csv and synth_truth.csv."
            )
        for name in _WRITTEN:
            path = out / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
    (out / "train").mkdir(parents=True, exist_ok=True)
    (out / "test").mkdir(exist_ok=True)


def _write_tiff(path: Path, array: np.ndarray) -> None:
    """Save an 8-bit grey TIFF atomically (Pillow needs the format: the temp name ends .tmp)."""
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="TIFF")


def _write_subject(
    config: SynthConfig,
    subject: int,
    plan: np.ndarray,
    pairs: list[tuple[int, int]],
    bank: np.ndarray,
    train: Path,
) -> list[str]:
    """Render and write one training subject; returns its RLE strings in frame order."""
    scene, poses, offsets = draw_sweep(config, TRAIN_STREAM, subject, bank)
    copies = {b: a for a, b in pairs}
    kept: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    rles = [""] * len(plan)
    for index, visible in enumerate(plan):
        if index in copies:
            continue
        image, mask = render_frame(scene, poses[index], bool(visible), offsets[index])
        vessel = vessel_mask(scene, poses[index]) if config.vessel else None
        if index in copies.values():
            kept[index] = image, vessel
        rles[index] = rle_encode(mask)
        _write_tiff(train / f"{subject}_{index + 1}.tif", image)
        _write_tiff(train / f"{subject}_{index + 1}_mask.tif", _mask_values(mask, vessel))
    for b, a in copies.items():
        picture, vessel = kept[a]
        noise = stream_rng(config.seed, PAIRS_STREAM, subject, b).normal(0.0, 1.0, picture.shape)
        image = np.clip(picture + np.round(noise), 0, 255).astype(np.uint8)
        _write_tiff(train / f"{subject}_{b + 1}.tif", image)
        nerve = np.zeros(image.shape, dtype=bool)  # the copy's contradiction: no nerve labelled
        _write_tiff(train / f"{subject}_{b + 1}_mask.tif", _mask_values(nerve, vessel))
    return rles


def _mask_values(nerve: np.ndarray, vessel: np.ndarray | None) -> np.ndarray:
    """The mask file's pixels: ``{0, 255}`` for the nerve alone, else 1 = nerve, 2 = vessel.

    Where the two touch the nerve wins (one value per pixel): the structure the set is about.
    """
    if vessel is None:
        return nerve.astype(np.uint8) * 255
    values = np.where(vessel, 2, 0).astype(np.uint8)
    values[nerve] = 1
    return values


def _write_test(config: SynthConfig, bank: np.ndarray, test: Path) -> None:
    """Unlabelled frames from extra subjects, shuffled and numbered from 1 as Kaggle's are."""
    per_subject = min(_TEST_FRAMES_PER_SUBJECT, config.frames_per_subject)
    subjects = math.ceil(config.test_frames / per_subject)
    names = iter(stream_rng(config.seed, TEST_STREAM, 0).permutation(config.test_frames) + 1)
    for subject in range(1, subjects + 1):
        count = len(range(subject - 1, config.test_frames, subjects))
        frames = config.frames_per_subject
        plan = subject_plan(config, TEST_STREAM, subject)
        scene, poses, offsets = draw_sweep(config, TEST_STREAM, subject, bank)
        chosen = np.sort(
            stream_rng(config.seed, TEST_STREAM, subject, 2).choice(frames, count, replace=False)
        )
        for index in chosen:
            image, _ = render_frame(scene, poses[index], bool(plan[index]), offsets[index])
            _write_tiff(test / f"{next(names)}.tif", image)


def generate_dataset(out: Path, config: SynthConfig, *, overwrite: bool = False) -> SynthSummary:
    """Write a synthetic data set in the Kaggle layout under ``out``.

    Writes ``train/{subject}_{img}.tif`` and ``_mask.tif``, ``test/{n}.tif``,
    ``train_masks.csv`` (``subject,img,pixels``) and ``synth_truth.csv`` (``subject,img_a,img_b``:
    each injected contradictory pair, ``img_a`` labelled with the nerve, ``img_b`` the same
    picture with a little noise and an empty mask). The same config gives byte-identical files.

    Raises:
        NervesegError: for invalid settings, or when ``out`` holds files and ``overwrite`` is
            False. With ``overwrite`` only the four entries above are replaced.
    """
    start = time.perf_counter()
    check_synth_config(config)
    out = Path(out)
    plans = [subject_plan(config, TRAIN_STREAM, s) for s in range(1, config.subjects + 1)]
    pairs = _choose_pairs(stream_rng(config.seed, PAIRS_STREAM), plans, config.contradictory_pairs)
    _prepare_root(out, overwrite)
    bank = speckle_bank(stream_rng(config.seed, SPECKLE_STREAM), config.height, config.width)
    rows, truth, empty_frames = ["subject,img,pixels"], ["subject,img_a,img_b"], 0
    for subject, plan in enumerate(plans, start=1):
        subject_pairs = sorted(pairs.get(subject - 1, []))
        rles = _write_subject(config, subject, plan, subject_pairs, bank, out / "train")
        rows += [f"{subject},{img},{rle}" for img, rle in enumerate(rles, start=1)]
        empty_frames += sum(not rle for rle in rles)
        truth += [f"{subject},{a + 1},{b + 1}" for a, b in subject_pairs]
    _write_test(config, bank, out / "test")
    write_text(out / "train_masks.csv", "\n".join(rows) + "\n")
    write_text(out / "synth_truth.csv", "\n".join(truth) + "\n")
    return SynthSummary(
        root=out,
        train_frames=config.subjects * config.frames_per_subject,
        empty_frames=empty_frames,
        test_frames=config.test_frames,
        contradictory_pairs=config.contradictory_pairs,
        seconds=time.perf_counter() - start,
    )
