"""``nerveseg tune``: an Optuna study whose trials are ordinary training runs.

Each trial is a run folder ``STUDY/trial-NNN`` made by the same :func:`~nerveseg.training.train.train`
as ``nerveseg train``, with the trial's values laid over the study's base config (defaults <
preset < ``--set`` < trial). The search space is ``tune.space`` in the config: a dotted setting
mapped to a spec such as ``[log_float, 1e-4, 3e-3]`` or ``[categorical, [96, 128], [128, 160]]``.

This module runs the trials. The study itself lives in ``STUDY/base.yaml`` and ``STUDY/study.db``
(SQLite; :mod:`nerveseg.experiments.tune_study`), so it survives its process: run the same command
again and it goes on where it stopped, and several workers (``nerveseg tune --study STUDY`` in
parallel) can share it. A trial left RUNNING by a killed worker stops sending heartbeats; once they
are ``2 * tune.heartbeat_seconds`` old it is marked failed and queued again, and its retry
continues the same run folder from its last checkpoint. A trial stopped with Ctrl-C is queued again
the same way.

A trial's value is ``val/score``, with several structures the mean of each structure's score;
``trials.csv`` then adds each structure's validation score and Dice.

TPE samples (seeded per trial: ``tune.sampler_seed`` and the trial number), and the median
rule prunes a trial whose validation score after an epoch is below the median of earlier
trials at that epoch. Pruning stops the trainer as early stopping does, so a pruned trial is a
complete, shorter run.
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import optuna

from nerveseg import runs
from nerveseg.config import RunConfig
from nerveseg.experiments.tune_space import Dimension, with_values
from nerveseg.experiments.tune_study import check_study_config, open_study

log = logging.getLogger(__name__)


class PruneUnpromising(L.Callback):
    """Report each epoch's validation score to a trial; stop training when the pruner says so.

    Stops through ``trainer.should_stop``, as EarlyStopping does, rather than raising through
    Lightning: the run still ends with its checkpoints, metrics.csv, model.pt and summary.json,
    and the tuner marks the trial pruned after :func:`train` returns.
    """

    def __init__(self, trial: optuna.Trial, monitor: str = runs.VAL_SCORE) -> None:
        self.trial, self.monitor = trial, monitor
        self.pruned_after: int | None = None  # the epoch after which the pruner stopped it

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if trainer.sanity_checking or value is None:
            return
        epoch = trainer.current_epoch
        with warnings.catch_warnings():  # a resumed trial re-reports its last epoch: ignored
            warnings.simplefilter("ignore", UserWarning)
            self.trial.report(float(value), step=epoch)
        if self.trial.should_prune():
            self.pruned_after = epoch
            trainer.should_stop = True


def run_study(base: RunConfig, study_dir: Path) -> optuna.Study:
    """Run trials until the study has ``tune.trials`` finished ones (or this worker's time is up).

    Reports (``trials.csv``, ``best.yaml``, ``history.png``, ``importance.png``) are rewritten
    after every trial and on the way out, also after Ctrl-C (which propagates).
    """
    from nerveseg.experiments.tune_report import write_reports

    dimensions = check_study_config(base)
    study_dir = Path(study_dir).resolve()  # trials record their run folder for any later cwd
    study_dir.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(study_dir, base.tune)
    limit = base.tune.timeout_minutes * 60
    deadline = time.monotonic() + limit if limit > 0 else None
    waiting_said = False
    try:
        while True:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(study)
            done, running = _progress(study)
            if done >= base.tune.trials:
                break
            if deadline is not None and time.monotonic() >= deadline:
                log.info("time is up (tune.timeout_minutes=%g)", base.tune.timeout_minutes)
                break
            if done + running >= base.tune.trials:
                # The rest are running in other workers, or were left by a killed one: those
                # are queued again once their heartbeat is older than the grace period.
                if not waiting_said:
                    log.info("waiting for %d running trial(s) to finish", running)
                    waiting_said = True
                time.sleep(min(5, base.tune.heartbeat_seconds))
                continue
            waiting_said = False
            study.optimize(
                lambda trial: _objective(trial, base, dimensions, study_dir),
                n_trials=1,
                callbacks=[_announce],
            )
            write_reports(study, study_dir, base, dimensions)
    finally:
        write_reports(study, study_dir, base, dimensions)
    return study


def _progress(study: optuna.Study) -> tuple[int, int]:
    states = [t.state for t in study.get_trials(deepcopy=False)]
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return sum(s in finished for s in states), states.count(optuna.trial.TrialState.RUNNING)


def _objective(
    trial: optuna.Trial, base: RunConfig, dimensions: list[Dimension], study_dir: Path
) -> float:
    from nerveseg.experiments.tune_report import STRUCTURES_ATTR
    from nerveseg.training import continue_run, train

    # Seeded by trial number, so workers sharing the study never draw the same values, and a
    # resumed study draws what an uninterrupted one would have. SeedSequence, because Mersenne
    # Twisters seeded 0, 1, 2, ... give visibly correlated first draws.
    seed = np.random.SeedSequence([base.tune.sampler_seed, trial.number]).generate_state(1)[0]
    trial.study.sampler = optuna.samplers.TPESampler(seed=int(seed))
    config = with_values(base, {d.key: d.suggest(trial) for d in dimensions})
    # A retry (of a trial stopped by Ctrl-C or left by a killed worker) continues the earlier
    # trial's run folder: reused if it finished, resumed from its last checkpoint if it has one.
    earlier = trial.user_attrs.get("run")
    run = Path(earlier) if earlier else study_dir / f"trial-{trial.number:03d}"
    trial.set_user_attr("run", str(run))
    pruning = PruneUnpromising(trial)
    log.info("trial %d: %s", trial.number, _describe(config, dimensions))
    try:
        if earlier:
            result = continue_run(config, run, overwrite=True, callbacks=[pruning])
        else:
            result = train(config, run, overwrite=True, callbacks=[pruning])
    except KeyboardInterrupt:
        _queue_again(trial)
        raise
    if result.interrupted:
        _queue_again(trial)
        raise KeyboardInterrupt
    if result.val_structures:  # several structures: each one's figures beside the mean
        trial.set_user_attr(STRUCTURES_ATTR, result.val_structures)
    if pruning.pruned_after is not None:
        raise optuna.TrialPruned(f"pruned after epoch {pruning.pruned_after}")
    return result.best_val_score  # val/score: the mean over structures


def _queue_again(trial: optuna.Trial) -> None:
    """Queue a trial stopped by Ctrl-C with its values and run folder, to be resumed first."""
    frozen = trial.study.get_trials(deepcopy=False)[trial.number]
    trial.study.add_trial(
        optuna.trial.create_trial(
            state=optuna.trial.TrialState.WAITING,
            params=frozen.params,
            distributions=frozen.distributions,
            user_attrs={**frozen.user_attrs, "retry_of": trial.number},
            intermediate_values=frozen.intermediate_values,
        )
    )


def _describe(config: RunConfig, dimensions: list[Dimension]) -> str:
    parts = []
    for d in dimensions:
        value: Any = config
        for part in d.key.split("."):
            value = getattr(value, part)
        parts.append(f"{d.key}={value:.4g}" if isinstance(value, float) else f"{d.key}={value}")
    return ", ".join(parts)


def _announce(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    state = trial.state.name.lower()
    seconds = trial.duration.total_seconds() if trial.duration else float("nan")
    value = f"{runs.VAL_SCORE} {trial.value:.4f}" if trial.value is not None else "no score"
    if trial.state == optuna.trial.TrialState.PRUNED:
        state += f" after epoch {max(trial.intermediate_values, default=0)}"
    best = ""
    if any(t.state == optuna.trial.TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
        best = f"; best {study.best_value:.4f} (trial {study.best_trial.number})"
    log.info("trial %d %s: %s in %.0f s%s", trial.number, state, value, seconds, best)
