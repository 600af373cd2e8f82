"""Data quality: near-duplicate frames, contradictory labels and their repair, inspection reports."""
