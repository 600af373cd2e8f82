"""The page's files: HTML, CSS, plain ES modules, and onnxruntime-web's vendored runtime.

Nothing lists the page's own files: ``nerveseg view`` serves ``static/`` as it is, ``nerveseg
export --format web`` copies it whole, and package data takes ``static/js/*.js``, so a new
module under ``static/js/`` needs no entry anywhere (``tests/viewer/test_modules.py`` checks
that every import resolves there). The page loads nothing from elsewhere and sends no
Content-Security-Policy; only the vendored runtime below is named, because ``make setup``
copies just those files.

onnxruntime-web is not committed: its WASM runtime alone is 14 MB. ``make setup`` installs the
version pinned in ``web/package-lock.json`` with ``npm ci`` and copies only the files the page
loads into ``static/vendor/`` (git-ignored, installed as package data), so a wheel built after
``make setup`` carries them and a viewer starts with one command and no network.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from nerveseg.errors import NervesegError

VENDOR = "vendor"
# What the page imports: the WASM-only build of onnxruntime-web and its SIMD + threads runtime.
VENDOR_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")


def static_dir() -> Path:
    """The folder of the page's files inside the installed package."""
    return Path(str(resources.files("nerveseg.viewer") / "static"))


def missing_vendor_files(folder: Path | None = None) -> list[str]:
    """The onnxruntime-web files absent from ``folder`` (default: the package's ``vendor/``)."""
    folder = folder or static_dir() / VENDOR
    return [name for name in VENDOR_FILES if not (folder / name).is_file()]


def require_vendor_files() -> None:
    """Raise with the fix when ``make setup`` could not vendor onnxruntime-web.

    Raises:
        NervesegError: one or more runtime files are missing.
    """
    missing = missing_vendor_files()
    if missing:
        raise NervesegError(
            f"{static_dir() / VENDOR}: onnxruntime-web is not installed ({', '.join(missing)} "
            "missing); run `make setup` in the nerveseg checkout (needs npm and, once, the network)"
        )
