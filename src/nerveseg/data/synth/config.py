"""The synthetic data set's settings, :class:`SynthConfig`, and their check.

A module of its own because the run config (:mod:`nerveseg.config`) and both writers, the
Kaggle layout (:mod:`nerveseg.data.synth.dataset`) and the sweep videos
(:mod:`nerveseg.data.synth.video`), take it, while none of them needs the others.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

from nerveseg.errors import NervesegError


@dataclass
class SynthConfig:
    """What to generate. Sizes are Kaggle's unless a test asks for tiny frames."""

    subjects: int = 47
    frames_per_subject: int = 120
    test_frames: int = 60  # total unlabelled test frames
    width: int = 580
    height: int = 420
    empty_fraction: float = 0.59
    contradictory_pairs: int = 0
    seed: int = 0
    # Label the artery as a second structure: masks hold 1 = nerve, 2 = vessel (train with
    # data.structures={nerve: [1], vessel: [2]}); train_masks.csv keeps the nerve alone.
    vessel: bool = False


def check_synth_config(config: SynthConfig) -> None:
    """Refuse settings that cannot make a sensible data set, saying which value to change."""
    minimums = {
        "subjects": 1,
        "frames_per_subject": 1,
        "test_frames": 0,
        "width": 64,
        "height": 64,
        "contradictory_pairs": 0,
        "seed": 0,
    }
    problems = []
    for name, minimum in minimums.items():
        value = getattr(config, name)
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
            problems.append(f"synth.{name} must be an integer >= {minimum}, got {value!r}")
    fraction = config.empty_fraction
    if not isinstance(config.vessel, bool):
        problems.append(f"synth.vessel must be true or false, got {config.vessel!r}")
    if (
        not isinstance(fraction, numbers.Real)
        or isinstance(fraction, bool)
        or not 0 <= fraction <= 1
    ):
        problems.append(f"synth.empty_fraction must be a number from 0 to 1, got {fraction!r}")
    if not problems and not 0.75 <= config.width / config.height <= 2.5:
        problems.append(
            f"width/height must be from 0.75 to 2.5 (Kaggle's 580x420 is 1.38), "
            f"got {config.width}x{config.height}"
        )
    if problems:
        raise NervesegError("Invalid synthetic data settings: " + "; ".join(problems))
