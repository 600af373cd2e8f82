"""The HTML report: built on a tiny trained run, its references checked, and rendered in Chromium."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from nerveseg.cli import main
from nerveseg.evaluation.report_html import CHECK_FAILED, CHECK_OK

CHROMIUM = next(
    (shutil.which(name) for name in ("chromium", "chromium-browser") if shutil.which(name)), None
)


@pytest.fixture(scope="module")
def report(copy_trained_run) -> Path:
    run = copy_trained_run()
    assert main(["fit-postprocess", str(run)]) == 0
    assert main(["report", str(run)]) == 0
    return run / "report" / "report.html"


def references(page: Path) -> list[str]:
    return re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page.read_text())


def test_report_references_only_files_that_exist(report):
    refs = references(report)
    assert "curves.png" in refs and "dice_histogram.png" in refs and "per_image.csv" in refs
    for ref in refs:
        assert not ref.startswith(("/", "http", "file:")), f"{ref} is not relative"
        assert (report.parent / ref).is_file(), ref
    html = report.read_text()
    for table in ("metrics", "postprocess", "fit-steps"):
        assert re.search(rf"""<table id=['"]{table}['"]""", html), table


def test_report_writes_per_image_scores(report):
    with open(report.parent / "per_image.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 8  # the smoke preset's validation frames
    assert {"name", "dice", "truth_pixels", "predicted_pixels", "nerve_score"} <= set(rows[0])
    assert all(0.0 <= float(r["dice"]) <= 1.0 for r in rows)


def chromium(page: Path, tmp_path: Path, *args: str) -> str:
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        *args,
        page.resolve().as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=True)
    return done.stdout


def page_title(dom: str) -> str:
    match = re.search(r"<title>(.*?)</title>", dom, re.S)
    assert match, "no <title> in the rendered page"
    return match.group(1)


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_report_renders_with_every_image_and_table(report, tmp_path):
    title = page_title(chromium(report, tmp_path, "--dump-dom"))
    assert title.startswith(CHECK_OK), title
    shot = tmp_path / "report.png"
    chromium(
        report, tmp_path, f"--screenshot={shot}", "--window-size=1280,3000", "--hide-scrollbars"
    )
    assert shot.is_file() and shot.stat().st_size > 10_000


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_the_page_check_catches_a_missing_image(report, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(report.parent, broken)
    (broken / "curves.png").unlink()
    title = page_title(chromium(broken / "report.html", tmp_path, "--dump-dom"))
    assert title.startswith(CHECK_FAILED) and "curves.png" in title, title
