"""Training: a run config and a run folder in, a trained ``model.pt`` and ``summary.json`` out.

:func:`train` trains one run, :func:`train_folds` every fold of a cross-validation, and
:func:`continue_run` reuses, resumes or starts a run as its folder says.
"""

from nerveseg.training.result import RunResult
from nerveseg.training.train import continue_run, is_main_process, train, train_folds

__all__ = ["RunResult", "continue_run", "is_main_process", "train", "train_folds"]
