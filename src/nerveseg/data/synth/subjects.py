"""Each synthetic subject's seeded randomness and probe sweep, shared by every writer.

The Kaggle-layout files (:mod:`nerveseg.data.synth.dataset`) and the sweep videos
(:mod:`nerveseg.data.synth.video`) must show the same frames for the same config, so both draw a
subject here: from the same seed-sequence streams, in the same order.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from nerveseg.data.synth.config import SynthConfig, check_synth_config
from nerveseg.data.synth.scene import (
    Pose,
    Scene,
    build_scene,
    presence_plan,
    render_frame,
    speckle_bank,
    sweep_poses,
)

# Seed-sequence streams, so that e.g. adding subjects leaves the earlier subjects' files unchanged.
# All four live here, in one place, so that no two purposes ever share a stream.
TRAIN_STREAM, TEST_STREAM, PAIRS_STREAM, SPECKLE_STREAM = 0, 1, 2, 3


def stream_rng(seed: int, *key: int) -> np.random.Generator:
    """An independent generator per (stream, subject, purpose), stable under other changes."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def subject_plan(config: SynthConfig, stream: int, subject: int) -> np.ndarray:
    """Which of a subject's frames show the nerve: ``(frames_per_subject,)`` bool."""
    rng = stream_rng(config.seed, stream, subject, 0)
    return presence_plan(rng, config.frames_per_subject, config.empty_fraction)


def draw_sweep(
    config: SynthConfig, stream: int, subject: int, bank: np.ndarray
) -> tuple[Scene, list[Pose], list[tuple[int, int]]]:
    """A subject's scene, poses and per-frame speckle crops, all drawn before any frame.

    Drawing them up front keeps every frame independent of which frames are later skipped.
    """
    rng, frames = stream_rng(config.seed, stream, subject, 1), config.frames_per_subject
    scene = build_scene(rng, config.height, config.width, bank)
    poses = sweep_poses(rng, frames, config.height, config.width)
    limits = np.array(scene.fresh.shape) - (config.height, config.width) + 1
    offsets = rng.integers(0, limits, size=(frames, 2))
    return scene, poses, [tuple(int(v) for v in row) for row in offsets]


def subject_sweep(
    config: SynthConfig, subject: int, bank: np.ndarray
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Training subject ``subject``'s (1-based) sweep, frame by frame: ``(image, mask)``.

    The frames :func:`~nerveseg.data.synth.dataset.generate_dataset` writes as
    ``train/{subject}_*.tif`` (before any contradictory copy replaces one), rendered one at a
    time so a long sweep never sits in memory; ``bank`` is :func:`speckle_bank_for` of the same
    config.
    """
    plan = subject_plan(config, TRAIN_STREAM, subject)
    scene, poses, offsets = draw_sweep(config, TRAIN_STREAM, subject, bank)
    for index, visible in enumerate(plan):
        yield render_frame(scene, poses[index], bool(visible), offsets[index])


def speckle_bank_for(config: SynthConfig) -> np.ndarray:
    """The speckle every subject of ``config`` draws from (checked settings first)."""
    check_synth_config(config)
    return speckle_bank(stream_rng(config.seed, SPECKLE_STREAM), config.height, config.width)
