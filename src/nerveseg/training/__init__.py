"""Training: a run config and a run folder in, a trained ``model.pt`` and ``summary.json`` out."""

from nerveseg.training.train import RunResult, train

__all__ = ["RunResult", "train"]
