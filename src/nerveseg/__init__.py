"""nerveseg: brachial plexus nerve segmentation in ultrasound images.

The public API is small on purpose; see the README's "Python API" section.
"""

__version__ = "0.1.0"
