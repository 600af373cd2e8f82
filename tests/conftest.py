"""Shared fixtures, made once per session: a tiny synthetic data set in the Kaggle layout and a
smoke run trained on it, which every test that needs a trained run reads (or copies)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from nerveseg.cli import main
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


@pytest.fixture(scope="session")
def trained_run(tiny_data, tmp_path_factory) -> Path:
    """The smoke preset (2 epochs, a very slim SegNet) trained once by ``nerveseg train``.

    Read it only: a test that writes into a run (evaluate, fit-postprocess, report) works on a
    copy from ``copy_trained_run``.
    """
    run = tmp_path_factory.mktemp("trained") / "run"
    assert main(["train", "--data", str(tiny_data), "--run", str(run), "--preset", "smoke"]) == 0
    return run


@pytest.fixture(scope="session")
def copy_trained_run(trained_run, tmp_path_factory) -> Callable[[], Path]:
    """A function that copies the shared trained run into a fresh folder and returns it."""

    def copy() -> Path:
        return Path(shutil.copytree(trained_run, tmp_path_factory.mktemp("run-copy") / "run"))

    return copy


@pytest.fixture
def run_copy(copy_trained_run) -> Path:
    """A private copy of the shared trained run, for one test to write into."""
    return copy_trained_run()
