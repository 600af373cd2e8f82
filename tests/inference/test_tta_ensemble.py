"""Test-time augmentation and ensembles: wrappers that keep the Predictor contract."""

from __future__ import annotations

import pytest
import torch

from nerveseg.errors import NervesegError
from nerveseg.inference.ensemble import EnsemblePredictor, Renormalised, combine
from nerveseg.inference.predictor import BatchOutput
from nerveseg.inference.tta import TTAPredictor
from nerveseg.runs import model_files


def pointwise(batch: torch.Tensor) -> BatchOutput:
    """A predictor with no spatial preference: the sigmoid of each pixel."""
    return BatchOutput(torch.sigmoid(batch[:, 0]), torch.sigmoid(batch.mean((1, 2, 3))))


def ramp(batch: torch.Tensor) -> BatchOutput:
    """A predictor that ignores its input and prefers the right-hand side."""
    n, _, h, w = batch.shape
    return BatchOutput(torch.linspace(0, 1, w).expand(n, h, w).clone(), torch.full((n,), 0.25))


def test_flip_tta_undoes_the_flip():
    batch = torch.randn(2, 1, 8, 12)
    torch.testing.assert_close(
        TTAPredictor(pointwise)(batch).probabilities, pointwise(batch).probabilities
    )
    # The ramp and its mirror average to a flat 0.5: the flip was undone before averaging.
    averaged = TTAPredictor(ramp)(batch)
    torch.testing.assert_close(averaged.probabilities, torch.full((2, 8, 12), 0.5))
    torch.testing.assert_close(averaged.presence, torch.full((2,), 0.25))


def test_shifts_are_undone_away_from_the_edges():
    batch = torch.randn(1, 1, 16, 20)
    tta = TTAPredictor(pointwise, flips=(), shifts=2)
    assert tta.views == 5
    out = tta(batch).probabilities
    torch.testing.assert_close(out[:, 2:-2, 2:-2], pointwise(batch).probabilities[:, 2:-2, 2:-2])


def test_vertical_flips_are_refused():
    with pytest.raises(ValueError, match="depth"):
        TTAPredictor(pointwise, flips=("h", "v"))


def test_ensemble_averages_probabilities_and_presence():
    batch = torch.randn(3, 1, 4, 6)
    out = EnsemblePredictor([pointwise, ramp])(batch)
    expected = (pointwise(batch).probabilities + ramp(batch).probabilities) / 2
    torch.testing.assert_close(out.probabilities, expected)
    torch.testing.assert_close(out.presence, (pointwise(batch).presence + 0.25) / 2)

    def no_presence(b):
        return BatchOutput(pointwise(b).probabilities, None)

    assert EnsemblePredictor([pointwise, no_presence])(batch).presence is None


def test_renormalised_member_sees_its_own_standardisation():
    unit = torch.rand(2, 1, 4, 4)  # intensities in [0, 1]
    seen = []

    def member(b):
        seen.append(b)
        return BatchOutput(b[:, 0])

    Renormalised(member, source=(0.3, 0.2), target=(0.5, 0.1))((unit - 0.3) / 0.2)
    torch.testing.assert_close(seen[0], (unit - 0.5) / 0.1)


def test_combine_refuses_members_with_different_input_sizes():
    from types import SimpleNamespace

    a = SimpleNamespace(image_size=(64, 96), mean=0.3, std=0.2)
    b = SimpleNamespace(image_size=(96, 128), mean=0.3, std=0.2)
    assert combine([(pointwise, a)]) == (pointwise, a)
    with pytest.raises(NervesegError, match="different input sizes"):
        combine([(pointwise, a), (pointwise, b)])


def test_model_files_finds_a_run_or_its_folds(tmp_path):
    with pytest.raises(NervesegError, match=r"no model\.pt"):
        model_files(tmp_path)
    for fold in (0, 1, 10):
        (tmp_path / f"fold-{fold}").mkdir()
        (tmp_path / f"fold-{fold}" / "model.pt").write_bytes(b"")
    assert [p.parent.name for p in model_files(tmp_path)] == ["fold-0", "fold-1", "fold-10"]
    (tmp_path / "fold-2").mkdir()
    with pytest.raises(NervesegError, match=r"fold-2 has no model\.pt"):
        model_files(tmp_path)
    (tmp_path / "model.pt").write_bytes(b"")
    assert model_files(tmp_path) == [tmp_path / "model.pt"]
