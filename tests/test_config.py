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


@pytest.mark.parametrize("name", preset_names())
def test_every_shipped_preset_loads_and_passes_its_checks(name):
    # a typo in a preset's YAML (an unknown key, a value out of range) fails here, not in a
    # user's first run
    config = load_config(name, [])
    assert config.data.image_size[0] > 0


def test_the_cpu_preset_is_the_measured_recipe():
    # README "The training recipe": the recipe its 3-fold table measured
    config = load_config("cpu", [])
    assert (config.model.name, config.model.width) == ("attention_unet", 0.25)
    assert config.data.image_size == [128, 160]
    assert (config.train.epochs, config.train.max_minutes, config.optim.lr) == (22, 30, 0.001)
    assert config.augment.elastic_p == 0.5 and config.augment.rotation_degrees == 15
    assert config.train.precision == "auto"


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


@pytest.mark.parametrize(
    ("override", "choices"),
    [
        ("optim.scheduler=cosin", "plateau, cosine, warmup_cosine, none"),
        ("optim.optimizer=sgd", "adam, adamw"),
        ("data.clean=dropp", "none, report, drop, union, majority"),
        ("tune.pruner=mediam", "median, none"),
        ("train.precision=16mixed", "32-true"),
        ("train.accelerator=gpus", "auto, cpu, gpu"),
        ("train.strategy=dpp", "ddp"),
        ("model.name=segnett", "segnet, segnet_basic"),
    ],
)
def test_choices_are_checked_at_load_with_the_valid_ones_named(override, choices):
    key = override.split("=")[0]
    with pytest.raises(ConfigError) as error:
        load_config(None, [override])
    message = str(error.value)
    assert f"{key} must be one of" in message and choices in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.epochs=0", "train.epochs must be at least 1"),
        ("train.batch_size=-3", "train.batch_size must be at least 1"),
        ("train.patience=-1", "train.patience must be at least 0"),
        ("train.max_minutes=-5", "train.max_minutes must be at least 0"),
        ("train.max_minutes=.inf", "train.max_minutes must be a finite number; got inf"),
        ("augment.translate=0.6", "augment.translate must be at least 0 and at most 0.5"),
        ("train.devices=0", "devices must be at least 1, or -1"),
        ("optim.lr=0", "optim.lr must be above 0"),
        ("optim.lr=-1e-3", "optim.lr must be above 0"),
        ("optim.lr=.nan", "optim.lr must be above 0"),
        ("loss.dice_weight=-1", "loss.dice_weight must be at least 0"),
        ("postprocess.threshold=2", "postprocess.threshold must be at least 0 and at most 1"),
        ("postprocess.min_area=-5", "postprocess.min_area must be at least 0"),
        ("postprocess.presence_threshold=1.5", "presence_threshold must be at least 0"),
        ("data.image_size=[0, 96]", "data.image_size must be at least 1"),
        ("data.image_size=[64, 96, 3]", "image_size must be [height, width]"),
        ("data.val_fraction=1", "data.val_fraction must be above 0 and below 1"),
        ("data.folds=1", "folds must be 0"),
        ("model.width=0", "model.width must be above 0"),
        ("augment.hflip_p=1.5", "augment.hflip_p must be at least 0 and at most 1"),
        ("tune.trials=0", "tune.trials must be at least 1"),
    ],
)
def test_values_out_of_range_fail_with_the_key(override, message):
    with pytest.raises(ConfigError, match=message.replace("[", "\\[")):
        load_config(None, [override])


def test_rules_between_settings_do_not_depend_on_the_order_of_overrides():
    forwards = load_config(None, ["data.folds=5", "data.fold=3"])
    backwards = load_config(None, ["data.fold=3", "data.folds=5"])
    assert forwards == backwards
    with pytest.raises(ConfigError, match=r"data.fold must be below folds \(2\); got 3"):
        load_config(None, ["data.fold=3", "data.folds=2"])


def test_a_saved_config_with_an_impossible_value_names_its_file(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("optim:\n  scheduler: cosin\n")
    with pytest.raises(ConfigError, match=f"{path}: optim.scheduler must be one of"):
        read_run_config(path)


def test_the_post_processing_section_is_the_one_post_processing_type():
    from nerveseg.postprocess import PostprocessParams

    config = load_config(None, ["postprocess.keep_largest=true", "postprocess.min_area=300"])
    assert isinstance(config.postprocess, PostprocessParams)
    assert config.postprocess.keep_largest and config.postprocess.min_area == 300
    # Training gates by presence (for a model with a presence head); the type's default is off.
    assert config.postprocess.presence_threshold == 0.5
    assert PostprocessParams().presence_threshold == 0.0


@pytest.mark.parametrize("folder", ["scans #2", "2024_01", "yes", "1e3", "[a]", "null"])
def test_flag_values_are_taken_literally_not_as_yaml(folder):
    config = load_config("smoke", [], {"data.root": folder})
    assert config.data.root == folder


def test_flags_win_over_set():
    config = load_config(None, ["data.root=a", "train.epochs=3"], {"data.root": "b"})
    assert (config.data.root, config.train.epochs) == ("b", 3)
