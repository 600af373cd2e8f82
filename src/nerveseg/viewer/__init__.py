"""The browser viewer: ``nerveseg view`` and ``nerveseg export --format web``.

The network runs inside the page with onnxruntime-web (WASM), so the same folder of static
files works behind the local server started by ``nerveseg view`` and on any plain web server as
a demo with no Python behind it. The page repeats ``nerveseg predict``'s steps in JavaScript
(Pillow's bilinear resize, normalisation, the exported network with its sigmoid, torch's
bilinear resize back, every post-processing step), so its masks match ``predict``'s, and its
downloads are ``predict``'s files: for a model of several structures, with a threshold slider
per structure, one indexed PNG per frame and a run-length column per structure. The browser
tests in ``tests/viewer`` check that.

- :mod:`nerveseg.viewer.assets`: where the page's files are and whether onnxruntime-web's
  files were vendored by ``make setup``;
- :mod:`nerveseg.viewer.bundle`: a model as ``model.onnx`` + ``model.json`` for the page, and
  the static folder of ``nerveseg export --format web``;
- :mod:`nerveseg.viewer.server`: the local server (127.0.0.1 only) behind ``nerveseg view``.
"""

from nerveseg.viewer.bundle import export_web, prepare_model
from nerveseg.viewer.server import ViewerServer, serve_viewer

__all__ = ["ViewerServer", "export_web", "prepare_model", "serve_viewer"]
