"""Experiments over many runs: Optuna tuning studies and honest model comparisons."""
