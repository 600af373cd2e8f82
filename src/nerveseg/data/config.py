"""The ``data`` section of a run config: where the frames are and how they become tensors."""

from __future__ import annotations

from dataclasses import dataclass, field

from nerveseg.data.quality.cleaning import CLEAN_POLICIES
from nerveseg.data.quality.duplicates import DEFAULT_THRESHOLD
from nerveseg.data.structures import (
    DEFAULT_STRUCTURES,
    RESIZE_MODES,
    check_ignore_values,
    check_structures,
)
from nerveseg.data.sweeps import SWEEP_THRESHOLD
from nerveseg.errors import ConfigError
from nerveseg.settings import setting


@dataclass
class DataConfig:
    """Where the data is and how frames become tensors."""

    root: str = ""
    image_size: list[int] = setting(default_factory=lambda: [128, 160], at_least=1)  # (H, W)
    val_fraction: float = setting(0.2, above=0.0, below=1.0)  # subjects held out when folds == 0
    folds: int = setting(0, at_least=0)  # >= 2: k-fold cross-validation by subject
    fold: int = setting(0, at_least=0)  # the fold validated on
    split_seed: int = 0
    # Train on this many of the training subjects (drawn by split_seed; 0 = all): learning
    # curves, what more labelled subjects would buy. The validation side is unchanged.
    train_subjects: int = setting(0, at_least=0)
    skip_bad: bool = False
    cache: bool = True  # decode and resize once, reuse while files and settings are unchanged
    cache_dir: str = ""  # default: $NERVESEG_CACHE or ~/.cache/nerveseg
    # Contradictory near-duplicates in the training frames (see nerveseg.data.quality.cleaning).
    # Validation frames are never changed.
    clean: str = setting("none", choices=CLEAN_POLICIES)
    duplicate_threshold: float = setting(DEFAULT_THRESHOLD, above=0.0)  # thumbnail distance
    # Ordered structure name -> mask values meaning it (see nerveseg.data.structures);
    # [] = any non-zero value. Channel k of every model and output is the k-th structure.
    structures: dict[str, list] = field(default_factory=lambda: dict(DEFAULT_STRUCTURES))
    # Mask values (or colours, LabelMe labels) read as background, e.g. a "probe marker" label;
    # any other value no structure names stops loading, naming the file.
    ignore_values: list = field(default_factory=list)
    # stretch: each side scaled on its own; letterbox: aspect kept, padded (nerveseg.data.geometry)
    resize: str = setting("stretch", choices=RESIZE_MODES)
    # Names without a subject (0001.png): frames closer than this (thumbnail distance) are one
    # sweep for the split, so near-duplicates never sit on both sides (nerveseg.data.sweeps).
    sweep_threshold: float = setting(SWEEP_THRESHOLD, above=0.0)

    def check(self) -> None:
        """Rules between the fields, checked once every value is in place."""
        if len(self.image_size) != 2:
            raise ConfigError(f"image_size must be [height, width], got {self.image_size}")
        if self.folds == 1:
            raise ConfigError("folds must be 0 (one split by val_fraction) or at least 2")
        if self.folds and self.fold >= self.folds:
            raise ConfigError(f"fold must be below folds ({self.folds}); got {self.fold}")
        check_structures(self.structures)
        check_ignore_values(self.structures, self.ignore_values)
