"""Near-duplicate groups and contradiction flags on small hand-made frames."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from nerveseg.data.quality.duplicates import (
    DEFAULT_THRESHOLD,
    DuplicateGroup,
    find_duplicate_groups,
    shrink,
    thumbnails,
)
from nerveseg.errors import ConfigError

SIZE = (48, 64)


def frame(seed: int) -> np.ndarray:
    """A textured frame whose structure survives shrinking: 8x8 random blocks, upsampled."""
    coarse = np.random.default_rng(seed).integers(30, 220, size=(6, 8), dtype=np.uint8)
    return np.kron(coarse, np.ones((8, 8), dtype=np.uint8))


def noisy(image: np.ndarray, seed: int) -> np.ndarray:
    """The same picture with +-1 grey level of noise, like a re-recorded duplicate."""
    noise = np.random.default_rng(seed).integers(-1, 2, size=image.shape)
    return np.clip(image.astype(int) + noise, 0, 255).astype(np.uint8)


def square(top: int, left: int, side: int = 12) -> np.ndarray:
    mask = np.zeros(SIZE, dtype=np.uint8)
    mask[top : top + side, left : left + side] = 1
    return mask


EMPTY = np.zeros(SIZE, dtype=np.uint8)


def test_thumbnails_are_zero_mean_unit_norm_and_a_flat_frame_is_zero():
    images = np.stack([frame(0), frame(1), np.full(SIZE, 77, np.uint8)])
    vectors = thumbnails(images)
    assert vectors.shape == (3, 24 * 32) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors.mean(axis=1), 0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(vectors[:2], axis=1), 1, atol=1e-5)
    assert not vectors[2].any()


def test_shrink_is_an_exact_area_average():
    image = np.random.default_rng(3).integers(0, 256, size=(36, 52), dtype=np.uint8)
    pillow = np.asarray(Image.fromarray(image.astype(np.float32)).resize((13, 9), Image.BOX))
    np.testing.assert_allclose(shrink(image[None], (9, 13))[0], pillow, atol=1e-3)
    # Uneven ratios: repeating each pixel (10, 14) times makes the areas whole blocks.
    image = np.random.default_rng(4).integers(0, 256, size=(37, 53))
    blocks = np.kron(image, np.ones((10, 14))).reshape(10, 37, 14, 53).mean(axis=(1, 3))
    np.testing.assert_allclose(shrink(image[None], (10, 14))[0], blocks, atol=1e-3)


def test_identical_frames_group_and_different_frames_do_not():
    images = np.stack([frame(0), noisy(frame(0), 1), frame(2), frame(3)])
    groups = find_duplicate_groups(images, None, ["s"] * 4)
    assert len(groups) == 1
    group = groups[0]
    assert group.members == [0, 1] and group.subject == "s"
    assert not group.contradictory and group.reason == ""
    assert 0 < group.max_distance < DEFAULT_THRESHOLD


def test_groups_are_connected_components_of_links():
    # b is linked to a and to c, a and c are too far apart to link: still one group.
    a = frame(0)
    c = np.clip(a.astype(int) + np.linspace(0, 12, SIZE[1]).astype(int), 0, 255).astype(np.uint8)
    b = ((a.astype(int) + c) // 2).astype(np.uint8)
    vectors = thumbnails(np.stack([a, b, c]))
    d_ab, d_ac = np.linalg.norm(vectors[0] - vectors[1]), np.linalg.norm(vectors[0] - vectors[2])
    threshold = (d_ab + d_ac) / 2 if d_ab < d_ac else pytest.fail("bad fixture")
    groups = find_duplicate_groups(np.stack([a, b, c, frame(5)]), None, ["s"] * 4, threshold)
    assert [g.members for g in groups] == [[0, 1, 2]]
    assert groups[0].max_distance < threshold


def test_groups_never_cross_subjects():
    images = np.stack([frame(0), frame(0), frame(0), frame(4)])
    groups = find_duplicate_groups(images, None, ["a", "b", "a", "b"])
    assert [(g.subject, g.members) for g in groups] == [("a", [0, 2])]


def test_a_subject_with_one_frame_and_an_empty_set_have_no_groups():
    assert find_duplicate_groups(frame(0)[None], None, ["only"]) == []
    assert find_duplicate_groups(np.zeros((0, *SIZE), np.uint8), None, []) == []


@pytest.mark.parametrize(
    ("masks", "contradictory", "reason"),
    [
        ([square(10, 10), EMPTY], True, "1 of 2 masks empty"),
        ([square(10, 10), EMPTY, EMPTY], True, "2 of 3 masks empty"),
        ([square(10, 10), square(30, 40)], True, "masks barely overlap (IoU 0.00)"),
        ([square(10, 10), square(10, 11)], False, ""),  # one nerve, drawn twice
        ([EMPTY, EMPTY], False, ""),
        (
            [square(10, 10), square(30, 40), EMPTY],
            True,
            "1 of 3 masks empty; masks barely overlap (IoU 0.00)",
        ),
    ],
)
def test_contradiction_flags(masks, contradictory, reason):
    images = np.stack([noisy(frame(0), seed) for seed in range(len(masks))])
    (group,) = find_duplicate_groups(images, np.stack(masks), ["s"] * len(masks))
    assert group.contradictory is contradictory
    assert group.reason == reason


def test_low_overlap_is_judged_against_overlap_iou():
    # The squares overlap half of their width: IoU 1/3.
    images = np.stack([frame(0), noisy(frame(0), 1)])
    masks = np.stack([square(10, 10), square(10, 16)])
    (loose,) = find_duplicate_groups(images, masks, ["s", "s"], overlap_iou=0.25)
    (strict,) = find_duplicate_groups(images, masks, ["s", "s"], overlap_iou=0.5)
    assert not loose.contradictory
    assert strict.contradictory and strict.reason == "masks barely overlap (IoU 0.33)"


def test_masks_may_be_at_another_size_than_images():
    images = np.stack([frame(0), frame(0)])
    masks = np.zeros((2, 96, 128), np.uint8)
    masks[0, 20:40, 20:40] = 1
    (group,) = find_duplicate_groups(images, masks, ["s", "s"])
    assert group.contradictory


def test_bad_arguments():
    images = np.stack([frame(0), frame(1)])
    with pytest.raises(ConfigError, match="threshold"):
        find_duplicate_groups(images, None, ["s", "s"], threshold=0)
    with pytest.raises(ConfigError, match="overlap"):
        find_duplicate_groups(images, None, ["s", "s"], overlap_iou=1.5)
    with pytest.raises(ValueError, match="must match"):
        find_duplicate_groups(images, None, ["s"])


def test_group_fields():
    group = DuplicateGroup("5", [1, 2], True, "1 of 2 masks empty", 0.01)
    assert (group.subject, group.members, group.max_distance) == ("5", [1, 2], 0.01)
