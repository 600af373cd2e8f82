"""Data: formats (Kaggle, plain folders), RLE, synthetic scans, splits, caching, augmentation."""
