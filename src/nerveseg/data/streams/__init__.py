"""Frame sources: video files, TIFF stacks, DICOM cine loops, capture devices and folders.

:func:`open_stream` picks the reader; every reader is a :class:`FrameStream` yielding
:class:`Frame` objects (index, seconds, ``(H, W)`` uint8 image). :mod:`.writer` encodes
videos (overlays, synthetic sweeps).
"""

from nerveseg.data.streams.base import DEFAULT_FPS, Frame, FrameStream
from nerveseg.data.streams.opening import open_stream

__all__ = ["DEFAULT_FPS", "Frame", "FrameStream", "open_stream"]
