"""A real user's own scans: ``../shared/data/usgra_seg`` (usgra-seg, CC-BY 4.0; see its README).

Three frame sizes, palette masks of two structures, names without subjects. The files stay where
they are; the tests only read them.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from nerveseg.data.loading import load_set
from nerveseg.data.samples import discover_labelled
from nerveseg.data.structures import label_map
from nerveseg.data.sweeps import names_carry_subjects, with_sweep_subjects
from nerveseg.errors import DataError

USGRA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "usgra_seg"

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(
        not (USGRA / "masks").is_dir(),
        reason=f"usgra-seg not found at {USGRA} (it is not part of the repository)",
    ),
]

TWO = label_map({"nerve": [1], "vessel": [2]})


@pytest.fixture(scope="module")
def loaded():
    return load_set(discover_labelled(USGRA), (128, 160), labels=TWO, resize="letterbox")


def test_every_frame_loads_with_both_structures(loaded):
    assert len(loaded.samples) == 204
    assert Counter(loaded.original_shapes) == {(512, 534): 152, (512, 512): 34, (632, 761): 18}
    frames_with = loaded.masks.reshape(len(loaded.masks), -1)
    assert ((frames_with & 1) > 0).any(axis=1).all()  # README: every mask holds the nerve ...
    assert ((frames_with & 2) > 0).any(axis=1).sum() == 183  # ... and most a vessel
    # Letterboxed: a 534x512 frame leaves 13 black columns on the left (box 134 wide).
    first = loaded.original_shapes.index((512, 534))
    assert (loaded.images[first, :, :13] == 0).all()


def test_without_structures_the_palette_masks_are_refused_with_the_fix():
    samples = discover_labelled(USGRA)[:3]
    with pytest.raises(DataError, match=r"not binary \(3 distinct values: 0, 1, 2\).*structures"):
        load_set(samples, (64, 80))


def test_names_carry_no_subject_and_sweeps_stay_small(loaded):
    assert not names_carry_subjects(loaded.samples)
    subjects = Counter(s.subject for s in with_sweep_subjects(loaded, announce=False).samples)
    sizes = np.array(list(subjects.values()))
    # Near-identical views (numbers far apart, e.g. 0003 and 0050) share a sweep; nothing chains.
    assert 150 <= len(subjects) < 204 and sizes.max() <= 5
