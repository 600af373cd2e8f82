"""Synthetic sweeps as videos with their truth, for live segmentation tests and benchmarks.

``nerveseg synth OUT --video`` writes, per subject, ``sweep_<subject>.mkv`` (the subject's
probe sweep, the frames of ``train/<subject>_*.tif`` in order) and ``sweep_<subject>_masks.mkv``
(its truth: 255 where the nerve is), both lossless (FFV1, 8-bit grey): the decoded frames
are bit for bit the rendered ones, so the truth aligns exactly. A mask video rather than a
TIFF stack because a 60-second sweep (1,800 frames) is then written and read one frame at a
time, never held in memory. Both read back with :func:`nerveseg.data.streams.open_stream`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from nerveseg.data.streams.writer import VideoWriter
from nerveseg.data.synth.config import SynthConfig
from nerveseg.data.synth.subjects import speckle_bank_for, subject_sweep
from nerveseg.errors import NervesegError
from nerveseg.files import atomic_path


@dataclass
class SweepSummary:
    """What :func:`generate_sweeps` wrote."""

    root: Path
    videos: list[Path]
    frames: int
    nerve_frames: int
    fps: float
    seconds: float


def sweep_paths(out: Path, subject: int) -> tuple[Path, Path]:
    """The sweep video and its truth-mask video of ``subject`` under ``out``."""
    return Path(out) / f"sweep_{subject}.mkv", Path(out) / f"sweep_{subject}_masks.mkv"


def generate_sweeps(
    out: Path, config: SynthConfig, *, fps: float = 30.0, overwrite: bool = False
) -> SweepSummary:
    """Write every subject's sweep of ``config`` as a lossless video plus its truth masks.

    Raises:
        NervesegError: invalid settings, or a sweep file present and ``overwrite`` False (with
            ``overwrite`` only the sweep files this writes are replaced).
    """
    started = time.perf_counter()
    out = Path(out)
    bank = speckle_bank_for(config)
    if fps <= 0:
        raise NervesegError(f"--fps must be above 0, got {fps}")
    subjects = range(1, config.subjects + 1)
    present = [p for s in subjects for p in sweep_paths(out, s) if p.exists()]
    if present and not overwrite:
        raise NervesegError(
            f"{present[0]} already exists; choose another folder or pass --overwrite to replace "
            "the sweep files"
        )
    out.mkdir(parents=True, exist_ok=True)
    frames = nerve_frames = 0
    for subject in subjects:
        video, masks = sweep_paths(out, subject)
        # Writers close (finishing their containers) before the files are renamed into place.
        with (
            atomic_path(video) as video_tmp,
            atomic_path(masks) as masks_tmp,
            VideoWriter(video_tmp, fps, "lossless") as images,
            VideoWriter(masks_tmp, fps, "lossless") as truths,
        ):
            for image, mask in subject_sweep(config, subject, bank):
                images.write(image)
                truths.write(mask.astype("uint8") * 255)
                frames += 1
                nerve_frames += bool(mask.any())
    return SweepSummary(
        root=out,
        videos=[sweep_paths(out, s)[0] for s in subjects],
        frames=frames,
        nerve_frames=nerve_frames,
        fps=fps,
        seconds=time.perf_counter() - started,
    )
