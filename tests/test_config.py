"""Defaults < preset < --set, and loud failures for unknown keys and wrong types."""

import pytest

from nerveseg.config import load_config, preset_names, read_run_config, save_config
from nerveseg.errors import ConfigError


def test_defaults_are_the_published_segnet():
    config = load_config()
    assert config.model.name == "segnet" and config.model.width == 1.0
    assert config.data.image_size == [128, 160]


def test_presets_ship_with_the_package():
    assert {"default", "demo", "smoke"} <= set(preset_names())


def test_preset_then_override():
    config = load_config("demo", ["train.epochs=3", "data.image_size=[64, 96]", "optim.lr=1e-4"])
    assert config.model.width == 0.25  # from the preset
    assert config.train.epochs == 3
    assert config.data.image_size == [64, 96]
    assert config.optim.lr == pytest.approx(1e-4)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.epoch=3", "unknown key 'train.epoch'"),
        ("trian.epochs=3", "unknown key 'trian'"),
        ("train.epochs=three", "whole number"),
        ("train.epochs=2.5", "whole number"),
        ("augment.enabled=maybe", "true or false"),
        ("data.image_size=128", "list"),
        ("train.epochs", "section.key=value"),
    ],
)
def test_bad_overrides_fail_loudly(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_unknown_preset_lists_the_presets():
    with pytest.raises(ConfigError, match="demo"):
        load_config("nonexistent")


def test_yaml_preset_file(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("train:\n  epochs: 7\n")
    assert load_config(path).train.epochs == 7
    path.write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match="YAML"):
        load_config(path)


def test_saved_config_reads_back_identically(tmp_path):
    config = load_config("demo", ["train.seed=5"])
    save_config(config, tmp_path / "config.yaml")
    assert read_run_config(tmp_path / "config.yaml") == config
