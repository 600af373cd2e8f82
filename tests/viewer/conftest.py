"""Headless Chromium (Debian's package) driven by Playwright for the viewer's browser tests.

No browser is downloaded: Playwright is pointed at the system executable. Each missing piece
(chromium, playwright, onnxruntime-web's vendored files) skips the browser tests with its reason.
"""

from __future__ import annotations

import shutil

import pytest

from nerveseg.viewer.assets import missing_vendor_files

CHROMIUM = next(
    (shutil.which(name) for name in ("chromium", "chromium-browser") if shutil.which(name)), None
)


def browser_skip_reason() -> str | None:
    """Why the viewer cannot be run in a browser here, or None when it can."""
    if CHROMIUM is None:
        return "chromium is not installed (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    if missing_vendor_files():
        return "onnxruntime-web is not vendored (make setup; needs npm and the network once)"
    return None


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session's viewer tests."""
    reason = browser_skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # A fake camera (a test pattern) that needs no permission prompt, for the live source.
        fake_camera = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", *fake_camera]
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def open_page(browser):
    """Opens a new page at a URL once the viewer's model is loaded; ``page.errors`` collects
    the page's JavaScript errors, so a test can assert there were none."""

    def open_viewer(url: str):
        page = browser.new_page(viewport={"width": 1200, "height": 760})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url)
        page.wait_for_function("window.viewer && document.body.dataset.status !== 'loading'")
        # "busy": the model loaded and a preloaded frames.json's first frame is on its way.
        status = page.evaluate("document.body.dataset.status")
        assert status in ("ready", "busy"), page.inner_text("#message")
        page.errors = errors
        return page

    return open_viewer
