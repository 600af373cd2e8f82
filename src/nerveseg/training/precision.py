"""Which arithmetic a run trains in when ``train.precision`` is ``auto``.

bf16 autocast is only worth it where the hardware multiplies bf16 natively. On a CPU with
AVX512-BF16 or AMX it doubled the training images per second of SegNet width 0.25 at 128x160
(17.7 -> 35.3 on 2 cores; 41.3 with NHWC, ``train.channels_last``), while on a CPU without them
PyTorch emulates bf16 and the same network trains 50-200x slower. So ``auto`` asks the CPU what
it has instead of guessing from its brand, and a run's ``config.yaml`` records the answer, so a
resumed run keeps the arithmetic it started with.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import torch

log = logging.getLogger(__name__)

AUTO = "auto"
# /proc/cpuinfo flags of the instructions that multiply bf16 in hardware.
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
CPUINFO = Path("/proc/cpuinfo")


def resolve_precision(precision: str, accelerator: str) -> str:
    """``precision`` itself, or for ``auto`` the fastest that trains correctly on this machine.

    CUDA: bf16-mixed where the card has bf16, else 16-mixed. CPU: bf16-mixed where it
    multiplies bf16 in hardware (:func:`cpu_has_native_bf16`), else 32-true.
    """
    if precision != AUTO:
        return precision
    if _on_cuda(accelerator):
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    if accelerator in ("auto", "cpu") and cpu_has_native_bf16():
        return "bf16-mixed"
    return "32-true"


def cpu_has_native_bf16(cpuinfo: Path = CPUINFO) -> bool:
    """True when this CPU has AVX512-BF16 or AMX (Linux's flags); False where it cannot tell."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            return bool(NATIVE_BF16_FLAGS & set(line.partition(":")[2].split()))
    return False


def _on_cuda(accelerator: str) -> bool:
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
