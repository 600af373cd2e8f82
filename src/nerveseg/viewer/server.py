"""The local server behind ``nerveseg view``: the page, the model and the frames, on 127.0.0.1.

Standard library only (``http.server``): the page does the work, the server only hands out
files. It binds to the loopback interface, so nothing on the network can reach it and no scan
leaves the machine. It sends the cross-origin-isolation headers (COOP/COEP) that let the page
use WebAssembly threads (``SharedArrayBuffer``), which a plain web server would not.
"""

from __future__ import annotations

import contextlib
import logging
import mimetypes
import tempfile
import threading
import webbrowser
from collections.abc import Callable
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from nerveseg.errors import NervesegError
from nerveseg.files import write_json
from nerveseg.viewer.assets import require_vendor_files, static_dir
from nerveseg.viewer.bundle import (
    FRAMES_DIR,
    FRAMES_JSON,
    MODEL_FILE,
    MODEL_JSON,
    Frame,
    find_frames,
    frames_listing,
    prepare_model,
)

HOST = "127.0.0.1"
log = logging.getLogger(__name__)
ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
}
# Python's table may lack these, and a module script must come with a JavaScript type.
TYPES = {".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm"}


class _Handler(SimpleHTTPRequestHandler):
    """Serves the static folder, plus the model files and frames from elsewhere on disk."""

    def __init__(self, *args: Any, site: Path, frames: list[Frame], **kwargs: Any) -> None:
        self.site = site
        self.frames = frames
        super().__init__(*args, directory=str(static_dir()), **kwargs)

    def translate_path(self, path: str) -> str:
        parts = [p for p in unquote(urlsplit(path).path).split("/") if p]
        if any(p in (".", "..") for p in parts):
            return str(self.site / "missing")  # no way out of the served folders
        if parts in ([MODEL_FILE], [MODEL_JSON], [FRAMES_JSON]):
            return str(self.site / parts[0])
        if len(parts) == 3 and parts[0] == FRAMES_DIR and parts[1].isdigit():
            number = int(parts[1])
            if number < len(self.frames):
                frame = self.frames[number]
                for file in (frame.image, frame.mask):
                    if file is not None and file.name == parts[2]:
                        return str(file)
            return str(self.site / "missing")
        return super().translate_path(path)

    def guess_type(self, path: str | Path) -> str:
        return (
            TYPES.get(Path(path).suffix)
            or mimetypes.guess_type(str(path))[0]
            or "application/octet-stream"
        )

    def end_headers(self) -> None:
        for key, value in ISOLATION_HEADERS.items():
            self.send_header(key, value)
        self.send_header("Cache-Control", "no-store")  # a new model behind the same URL
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        if args and str(args[1]) != str(int(HTTPStatus.OK)):
            log.debug("viewer: " + format, *args)


class ViewerServer:
    """The viewer for one model, served from a background thread until :meth:`close`.

    Use it as a context manager; ``url`` is the page's address.
    """

    def __init__(self, source: Path, *, frames: Path | None = None, port: int = 0) -> None:
        listed = find_frames(frames) if frames is not None else []
        self._tmp = tempfile.TemporaryDirectory(prefix="nerveseg-view-")
        site = Path(self._tmp.name)
        try:
            self.model = prepare_model(Path(source), site)
            require_vendor_files()  # after the source: a wrong path is the likelier mistake
            write_json(site / FRAMES_JSON, frames_listing(listed))
            handler = partial(_Handler, site=site, frames=listed)
            self._server = ThreadingHTTPServer((HOST, port), handler)
        except OSError as exc:
            self._tmp.cleanup()
            raise NervesegError(
                f"cannot listen on {HOST}:{port} ({exc.strerror}); pass another --port, or 0 "
                "for any free one"
            ) from None
        except BaseException:
            self._tmp.cleanup()
            raise
        self._server.daemon_threads = True
        self.frames = listed
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}/"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._tmp.cleanup()

    def __enter__(self) -> ViewerServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve_viewer(
    source: Path,
    *,
    frames: Path | None = None,
    port: int = 0,
    open_browser: bool = True,
    announce: Callable[[str], None] = print,
    until: threading.Event | None = None,
) -> None:
    """Serve the viewer for ``source`` until interrupted (or ``until`` is set).

    Args:
        source: a finished run folder, a ``model.pt`` or an exported ``.onnx`` file.
        frames: a folder of scans (and ``NAME_mask`` files) the page opens with.
        port: the port on 127.0.0.1; 0 takes a free one.
        open_browser: open the page in the default browser.
        announce: where the address is printed.
        until: an event that stops the server when set (for callers that run it in a thread).
    """
    with ViewerServer(source, frames=frames, port=port) as server:
        shown = f", {len(server.frames)} frames from {frames}" if frames is not None else ""
        announce(f"viewer for {source}{shown} at {server.url} (Ctrl-C to stop)")
        if open_browser:
            with contextlib.suppress(webbrowser.Error):
                webbrowser.open(server.url)
        (until or threading.Event()).wait()
