"""Inference: open a run, a cross-validation folder or a model file, and predict with it.

:func:`open_predictor` is the one place a predictor is assembled (runtimes, test-time
augmentation, fold ensembles); :func:`predict_folder` writes masks and a run-length table for a
folder of frames; :mod:`~nerveseg.inference.export` and :mod:`~nerveseg.inference.bench` make
deployable files and measure them.
"""

from nerveseg.inference.predict import PredictionResult, predict_folder, write_predictions
from nerveseg.inference.sources import OpenedPredictor, open_predictor

__all__ = [
    "OpenedPredictor",
    "PredictionResult",
    "open_predictor",
    "predict_folder",
    "write_predictions",
]
