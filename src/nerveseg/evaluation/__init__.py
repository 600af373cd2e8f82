"""Evaluation: held-out predictions scored at full resolution, fitted post-processing, reports.

:func:`evaluate_run` scores a run (``evaluation.json``, ``per_image.csv``),
:func:`fit_run_postprocess` chooses its post-processing (``postprocess.json``) and
:func:`build_report` writes its HTML report.
"""

from nerveseg.evaluation.evaluate import Evaluation, evaluate_run
from nerveseg.evaluation.fit import FitResult
from nerveseg.evaluation.fit_run import fit_run_postprocess
from nerveseg.evaluation.report import build_report

__all__ = ["Evaluation", "FitResult", "build_report", "evaluate_run", "fit_run_postprocess"]
