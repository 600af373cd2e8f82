"""`nerveseg tune`: the search space, the pruning hook, and small studies on the tiny set."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
import torch

from nerveseg.cli import main
from nerveseg.config import ConfigError, apply_override, load_config
from nerveseg.errors import NervesegError
from nerveseg.experiments.tune import PruneUnpromising, _objective
from nerveseg.experiments.tune_space import parse_space, with_values
from nerveseg.experiments.tune_study import open_study, study_base_config

# One short epoch a trial; only the learning rate is searched.
SMOKE = ["--preset", "smoke", "--set", "train.epochs=1"]
LR_ONLY = "tune.space={optim.lr: [log_float, 1.0e-4, 1.0e-2]}"


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def space(entries: dict) -> object:
    return with_values(load_config("smoke"), {"tune.space": entries})


def test_default_space_parses():
    dimensions = parse_space(load_config())
    assert [d.key for d in dimensions] == [
        "optim.lr",
        "loss.dice_weight",
        "augment.rotation_degrees",
    ]
    assert dimensions[0].kind == "log_float" and dimensions[0].values == (1e-4, 3e-3)


def test_space_kinds_and_list_choices():
    config = space(
        {
            "optim.lr": ["log_float", "1e-4", "3e-3"],  # YAML 1.1 reads 1e-4 as text
            "train.batch_size": ["int", 4, 16],
            "data.image_size": ["categorical", [96, 128], [128, 160]],
            "augment.enabled": ["categorical", True, False],
        }
    )
    dimensions = {d.key: d for d in parse_space(config)}
    assert dimensions["optim.lr"].values == (1e-4, 3e-3)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    size = dimensions["data.image_size"].suggest(trial)
    assert size in ([96, 128], [128, 160])
    assert trial.params["data.image_size"] in ("[96, 128]", "[128, 160]")  # stored as text
    assert with_values(config, {"data.image_size": size}).data.image_size == size
    assert isinstance(dimensions["train.batch_size"].suggest(trial), int)


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ({}, "tune.space is empty"),
        ({"optim.lr": ["uniform", 0.1, 0.2]}, "kind one of"),
        ({"optim.lr": 0.001}, "expected a list"),
        ({"optim.lr": ["float", 0.1]}, "expected [float, low, high]"),
        ({"optim.lr": ["float", 0.2, 0.1]}, "must be below high"),
        ({"optim.lr": ["log_float", 0.0, 0.1]}, "log scale needs low > 0"),
        ({"optim.lr": ["float", "fast", 0.1]}, "takes numbers"),
        ({"train.epochs": ["int", 1.5, 4]}, "whole numbers"),
        ({"train.epochs": ["float", 1.0, 4.0]}, "expected a whole number"),
        ({"optim.lrr": ["float", 0.1, 0.2]}, "unknown key 'optim.lrr'"),
        ({"optim": ["float", 0.1, 0.2]}, "optim must be a mapping"),
        ({"optim.lr": ["float", -0.1, 0.2]}, "optim.lr must be above 0"),
        ({"optim.scheduler": ["categorical", "cosine", "cosin"]}, "must be one of plateau"),
        ({"model.width": ["categorical"]}, "at least one choice"),
        ({"model.width": ["categorical", 0.5, 0.5]}, "listed twice"),
        ({"tune.trials": ["int", 1, 4]}, "tuner's own settings"),
    ],
)
def test_bad_space_entries_name_the_problem(entries, message):
    with pytest.raises(ConfigError) as error:
        parse_space(space(entries))
    assert message in str(error.value)
    if entries:
        assert next(iter(entries)) in str(error.value)


def test_set_changes_one_entry_of_the_space():
    config = apply_override(load_config(), "tune.space.model.width=[categorical, 0.25, 0.5]")
    assert config.tune.space["model.width"] == ["categorical", 0.25, 0.5]
    assert "optim.lr" in config.tune.space  # the rest stays
    config = apply_override(config, "tune.space.optim.lr=null")
    assert "optim.lr" not in config.tune.space
    config = apply_override(config, LR_ONLY)  # a whole mapping replaces the space
    assert list(config.tune.space) == ["optim.lr"]


def test_preset_space_replaces_the_default(tmp_path):
    preset = tmp_path / "p.yaml"
    preset.write_text("tune:\n  space:\n    model.width: [categorical, 0.25, 0.5]\n")
    assert list(load_config(preset).tune.space) == ["model.width"]


class FakeTrial:
    def __init__(self, prune_from: int) -> None:
        self.reports: list[tuple[float, int]] = []
        self.prune_from = prune_from

    def report(self, value: float, step: int) -> None:
        self.reports.append((value, step))

    def should_prune(self) -> bool:
        return self.reports[-1][1] >= self.prune_from


def fake_trainer(epoch: int, score: float | None) -> SimpleNamespace:
    metrics = {} if score is None else {"val/score": torch.tensor(score)}
    return SimpleNamespace(
        callback_metrics=metrics, current_epoch=epoch, sanity_checking=False, should_stop=False
    )


def test_pruning_callback_reports_each_epoch_and_stops_the_trainer():
    trial = FakeTrial(prune_from=2)
    callback = PruneUnpromising(trial)
    for epoch in range(2):
        trainer = fake_trainer(epoch, 0.5 + epoch / 10)
        callback.on_validation_end(trainer, None)
        assert not trainer.should_stop and callback.pruned_after is None
    trainer = fake_trainer(2, 0.4)
    callback.on_validation_end(trainer, None)
    assert trainer.should_stop and callback.pruned_after == 2
    assert trial.reports == [(0.5, 0), (pytest.approx(0.6), 1), (pytest.approx(0.4), 2)]
    callback.on_validation_end(fake_trainer(3, None), None)  # no score: nothing reported
    assert len(trial.reports) == 3


@pytest.mark.slow
def test_pruned_trial_is_a_finished_shorter_run(tiny_data, tmp_path):
    """A real trial, pruned after epoch 0 by a pruner that prunes everything below 1."""
    base = load_config("smoke", ["train.epochs=3", f"data.root={tiny_data}", LR_ONLY])
    dimensions = parse_space(base)
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(1.0))
    study.optimize(lambda t: _objective(t, base, dimensions, tmp_path), n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert list(trial.intermediate_values) == [0]
    summary = (tmp_path / "trial-000" / "summary.json").read_text()
    assert '"epochs_trained": 1' in summary


@pytest.fixture(scope="module")
def study(tiny_data, tmp_path_factory) -> dict:
    """Two trials; then a leftover RUNNING trial (its worker "killed"); then ask for three.

    The second run must retry the leftover (same values), once its heartbeat (1 s, grace 2 s)
    is stale, and run nothing else.
    """
    folder = tmp_path_factory.mktemp("tune") / "study"
    start = ["tune", "--data", str(tiny_data), "--study", str(folder), *SMOKE]
    start += ["--set", LR_ONLY, "--set", "tune.heartbeat_seconds=1"]
    assert main([*start, "--trials", "2"]) == 0
    after_two = read_csv(folder / "trials.csv")

    base = study_base_config(folder, None)
    leftover = open_study(folder, base.tune)
    with pytest.warns(UserWarning, match="Heartbeat"):  # asked outside Study.optimize
        trial = leftover.ask()
    parse_space(base)[0].suggest(trial)
    leftover._storage.record_heartbeat(trial._trial_id)  # then its worker dies

    assert main(["tune", "--study", str(folder), "--trials", "3"]) == 0
    return {"folder": folder, "after_two": after_two, "leftover": trial}


@pytest.mark.slow
def test_study_runs_trials_as_run_folders(study):
    folder = study["folder"]
    rows = study["after_two"]
    assert [(r["number"], r["state"]) for r in rows] == [("0", "COMPLETE"), ("1", "COMPLETE")]
    for row in rows:
        run = Path(row["run"])
        assert run.parent == folder.resolve() and (run / "summary.json").is_file()
        lr = load_config(run / "config.yaml").optim.lr
        assert float(row["optim.lr"]) == pytest.approx(lr, rel=1e-5)  # 6 digits in the CSV
    for name in ("study.db", "base.yaml", "best.yaml", "history.png", "importance.png"):
        assert (folder / name).is_file(), name


@pytest.mark.slow
def test_resumed_study_retries_the_leftover_and_runs_nothing_else(study):
    rows = read_csv(study["folder"] / "trials.csv")
    states = [(r["number"], r["state"], r["retry_of"]) for r in rows]
    assert states == [
        ("0", "COMPLETE", ""),
        ("1", "COMPLETE", ""),
        ("2", "FAIL", ""),  # the leftover, failed for its stale heartbeat
        ("3", "COMPLETE", "2"),  # ... and retried with its values
    ]
    assert rows[3]["optim.lr"] == f"{study['leftover'].params['optim.lr']:.6g}"
    trained = sorted(p.name for p in study["folder"].glob("trial-*") if (p / "model.pt").exists())
    assert trained == ["trial-000", "trial-001", "trial-003"]
    assert study_base_config(study["folder"], None).tune.trials == 3  # remembered for --study


@pytest.mark.slow
def test_best_yaml_is_a_preset_of_the_best_trial(study):
    folder = study["folder"]
    rows = [r for r in read_csv(folder / "trials.csv") if r["state"] == "COMPLETE"]
    best = max(rows, key=lambda r: float(r["value"]))
    config = load_config(folder / "best.yaml")
    trial = load_config(Path(best["run"]) / "config.yaml")
    # All but tune.trials, which is how many trials the worker that ran it was asked for.
    assert replace(config, tune=trial.tune) == trial


@pytest.mark.slow
def test_a_study_keeps_its_settings(study, capsys):
    folder = study["folder"]
    data = study_base_config(folder, None).data.root
    args = ["tune", "--data", data, "--study", str(folder), *SMOKE, "--set", LR_ONLY]
    assert main([*args, "--set", "optim.weight_decay=0.1"]) == 2
    assert "optim.weight_decay" in capsys.readouterr().err
    # The same settings again (and more trials asked of nobody): nothing to do, no error.
    assert main([*args, "--set", "tune.heartbeat_seconds=1", "--trials", "3"]) == 0


def test_tune_refuses_multi_process_trials(tmp_path, tiny_data):
    config = load_config("smoke", [f"data.root={tiny_data}", "train.devices=2"])
    with pytest.raises(ConfigError, match="one tune worker per GPU"):
        study_base_config(tmp_path / "study", config)
    assert not (tmp_path / "study" / "base.yaml").exists()


def test_continuing_needs_a_study(tmp_path):
    with pytest.raises(NervesegError, match="no study here yet"):
        study_base_config(tmp_path / "nothing", None)


def test_trials_csv_adds_each_structures_figures_when_there_are_several(tmp_path):
    from nerveseg.experiments.tune_report import STRUCTURES_ATTR, write_trials_csv

    dimensions = parse_space(space({"optim.lr": ["log_float", 1e-4, 1e-2]}))
    study = optuna.create_study(direction="maximize")
    figures = {"nerve": {"score": 0.8, "dice": 0.7}, "vessel": {"score": 0.6, "dice": 0.5}}
    study.add_trial(
        optuna.trial.create_trial(
            params={"optim.lr": 1e-3},
            distributions={
                "optim.lr": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)
            },
            value=0.7,
            user_attrs={STRUCTURES_ATTR: figures},
        )
    )
    write_trials_csv(study.trials, dimensions, tmp_path / "trials.csv")
    (row,) = read_csv(tmp_path / "trials.csv")
    assert float(row["value"]) == 0.7  # val/score: the mean over structures
    assert {k: float(row[k]) for k in ("score_nerve", "dice_nerve", "score_vessel", "dice_vessel")} == {
        "score_nerve": 0.8, "dice_nerve": 0.7, "score_vessel": 0.6, "dice_vessel": 0.5
    }  # fmt: skip
