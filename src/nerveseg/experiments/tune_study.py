"""A tuning study's lasting state: its base config (``base.yaml``) and storage (``study.db``).

Both outlive any one worker: a study is continued by running the same command again, and joined
by several workers at once, so everything that must agree between them is read, checked and
written here, before a first trial runs (:mod:`nerveseg.experiments.tune` runs the trials). The
storage is SQLite with heartbeats: a trial left RUNNING by a killed worker is marked failed once
its heartbeat is ``2 * tune.heartbeat_seconds`` old, and queued again with its intermediate values.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import optuna
import yaml

from nerveseg.config import RunConfig, TuneConfig, read_run_config, to_dict
from nerveseg.errors import ConfigError, NervesegError
from nerveseg.experiments.tune_space import Dimension, parse_space, with_values
from nerveseg.files import write_text
from nerveseg.settings import check_all
from nerveseg.training.distributed import several_processes

STUDY_DB = "study.db"
BASE = "base.yaml"  # the study's base config: what every trial's values are laid over
STUDY_NAME = "nerveseg"
# Settings a study may not vary or compare on: how long this worker runs is not the study.
_WORKER_SETTINGS = {("tune", "trials"), ("tune", "timeout_minutes")}


def check_study_config(config: RunConfig) -> list[Dimension]:
    """Everything a study needs from its base config, checked before anything is written."""
    dimensions = parse_space(config)
    if several_processes(config.train):
        raise ConfigError(
            "nerveseg tune trains each trial in one process (train.devices=1, num_nodes=1); "
            "to use several GPUs, run one tune worker per GPU on the same --study"
        )
    if not config.data.root:
        raise NervesegError("no training data given: pass --data DIR (or set data.root)")
    return dimensions


def study_base_config(
    study: Path,
    given: RunConfig | None,
    *,
    trials: int | None = None,
    timeout_minutes: float | None = None,
) -> RunConfig:
    """The config a study's trials start from, kept in ``STUDY/base.yaml``.

    ``given`` None (no --preset, --set or --data) continues with the saved one; a given config
    must match it, apart from ``tune.trials`` and ``tune.timeout_minutes``. Those two, changed
    here or by ``trials`` / ``timeout_minutes``, are saved for the next ``--study`` run.
    """
    saved_path = Path(study) / BASE
    saved = read_run_config(saved_path) if saved_path.is_file() else None
    if given is None:
        if saved is None:
            raise NervesegError(
                f"{study}: no study here yet; start one with --data DIR (and --preset / --set)"
            )
        config = saved
    else:
        config = given
        if config.data.root:  # trials may run from any folder
            config = with_values(config, {"data.root": str(Path(config.data.root).resolve())})
        differences = _differences(to_dict(saved), to_dict(config)) if saved else []
        if differences:
            raise NervesegError(
                f"{study} was started with other settings ({'; '.join(differences[:5])}); "
                f"continue it with `nerveseg tune --study {study}` or choose a new --study"
            )
    if trials is not None:
        config = with_values(config, {"tune.trials": trials})
    if timeout_minutes is not None:
        config = with_values(config, {"tune.timeout_minutes": timeout_minutes})
    check_study_config(config)
    if config != saved:
        write_text(saved_path, yaml.safe_dump(to_dict(config), sort_keys=False))
    return config


def _differences(saved: dict, given: dict, prefix: tuple[str, ...] = ()) -> list[str]:
    found = []
    for key in saved.keys() | given.keys():
        path = (*prefix, key)
        a, b = saved.get(key), given.get(key)
        if path in _WORKER_SETTINGS:
            continue
        if isinstance(a, dict) and isinstance(b, dict) and path != ("tune", "space"):
            found += _differences(a, b, path)
        elif a != b:
            found.append(f"{'.'.join(path)}: {a!r} then, {b!r} now")
    return sorted(found)


def open_study(study: Path, tune: TuneConfig) -> optuna.Study:
    """Create or load the study in ``STUDY/study.db``."""
    check_all(tune, prefix="tune.")
    with warnings.catch_warnings():  # heartbeats are marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = optuna.storages.RDBStorage(
            f"sqlite:///{(Path(study) / STUDY_DB).resolve()}",
            # Workers sharing the file wait for each other's writes instead of failing.
            engine_kwargs={"connect_args": {"timeout": 60}},
            heartbeat_interval=tune.heartbeat_seconds,
            grace_period=2 * tune.heartbeat_seconds,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                max_retry=3, inherit_intermediate_values=True
            ),
        )
    pruner = (
        optuna.pruners.MedianPruner(
            n_startup_trials=tune.pruner_startup_trials, n_warmup_steps=tune.pruner_warmup_epochs
        )
        if tune.pruner == "median"
        else optuna.pruners.NopPruner()
    )
    return optuna.create_study(
        storage=storage,
        study_name=STUDY_NAME,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=tune.sampler_seed),
        pruner=pruner,
        load_if_exists=True,
    )
