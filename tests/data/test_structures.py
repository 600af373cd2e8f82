import numpy as np
import pytest
import torch

from nerveseg.config import load_config
from nerveseg.data.structures import check_structures, pack, structure_names, unpack
from nerveseg.errors import ConfigError


def test_one_structure_packs_to_the_binary_mask_it_was():
    mask = np.array([[[0, 1], [1, 0]]], dtype=np.uint8)
    assert (pack(mask) == mask[0]).all()
    assert (unpack(mask[0], 1)[0] == mask[0]).all()


def test_overlapping_structures_keep_both_bits():
    channels = np.zeros((2, 1, 3), dtype=np.uint8)
    channels[0, 0, :2] = 1
    channels[1, 0, 1:] = 1
    assert pack(channels).tolist() == [[1, 3, 2]]
    assert (unpack(pack(channels), 2) == channels).all()


def test_unpack_works_on_torch_batches():
    packed = torch.tensor([[[0, 1], [2, 3]]], dtype=torch.uint8)
    assert unpack(packed, 2).shape == (1, 2, 2, 2)
    assert unpack(packed, 2)[0, 1].tolist() == [[0, 0], [1, 1]]


def test_config_keeps_order_and_kaggle_default():
    assert structure_names(load_config(None).data.structures) == ["nerve"]
    config = load_config(None, ["data.structures={vessel: [2], nerve: [1]}"])
    assert structure_names(config.data.structures) == ["vessel", "nerve"]


@pytest.mark.parametrize(
    "bad",
    [{}, {"1nerve": [1]}, {"nerve": 1}, {"nerve": [256]}, {"nerve": [[1, 2]]}, {"nerve": [True]},
     {f"s{i}": [i] for i in range(9)}],
)  # fmt: skip
def test_bad_structures_are_refused(bad):
    with pytest.raises(ConfigError):
        check_structures(bad)
