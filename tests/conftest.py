"""Shared fixtures: a tiny synthetic data set in the Kaggle layout, made once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from nerveseg.config import load_config
from nerveseg.data.synth import generate_dataset

SHARED_SAMPLE = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "kaggle_nerve_sample"
)


@pytest.fixture(autouse=True, scope="session")
def _private_frame_cache(tmp_path_factory):
    """Tests never read or write the user's frame cache (~/.cache/nerveseg)."""
    patch = pytest.MonkeyPatch()
    patch.setenv("NERVESEG_CACHE", str(tmp_path_factory.mktemp("frame-cache")))
    yield
    patch.undo()


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """4 subjects x 8 frames of 160x128 synthetic ultrasound, plus 4 test frames."""
    root = tmp_path_factory.mktemp("synthetic") / "data"
    generate_dataset(root, load_config("smoke").synth)
    return root
