"""Evaluation: held-out predictions scored at full resolution, fitted post-processing, reports."""

from nerveseg.evaluation.evaluate import Evaluation, evaluate_run

__all__ = ["Evaluation", "evaluate_run"]
