"""Synthetic B-mode ultrasound in the Kaggle layout: :func:`generate_dataset` and its config."""

from nerveseg.data.synth.config import SynthConfig
from nerveseg.data.synth.dataset import SynthSummary, generate_dataset

__all__ = ["SynthConfig", "SynthSummary", "generate_dataset"]
