"""HTML pieces of the report: a page with a self-check, sections, tables, figures.

Plain strings, escaped here, with inline CSS and no external resources, so the page opens from
disk. The self-check runs on load: every ``<img>`` must have decoded and every expected table
must have a data row; the result goes into a banner at the top and into the page title
(:data:`CHECK_OK` or :data:`CHECK_FAILED`), which a headless browser can read back.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

CHECK_OK = "REPORT-CHECK OK"
CHECK_FAILED = "REPORT-CHECK FAILED"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1400px;
       padding: 0 24px 48px; color: #222; }
h1 { margin-top: 16px; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 32px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { padding: 4px 10px; border: 1px solid #ddd; text-align: left; }
td { font-variant-numeric: tabular-nums; }
tr.baseline td { color: #777; font-style: italic; }
table.facts th { background: #f6f6f6; font-weight: 600; }
img { max-width: 100%; display: block; margin: 8px 0; }
.caption { color: #555; font-size: 0.9em; }
.check { position: sticky; top: 0; padding: 10px 16px; font-weight: 700; font-size: 1.1em; }
.check.pending { background: #eee; }
.check.ok { background: #d8f3dc; color: #1b5e20; }
.check.bad { background: #c62828; color: white; font-size: 1.4em; }
"""

_CHECK = """
window.addEventListener("load", function () {
  var problems = [];
  var images = document.querySelectorAll("img");
  images.forEach(function (img) {
    if (!img.complete || img.naturalWidth === 0) problems.push("image " + img.getAttribute("src"));
  });
  EXPECTED_TABLES.forEach(function (id) {
    var table = document.getElementById(id);
    if (!table || table.rows.length < 2) problems.push("table " + id);
  });
  var banner = document.getElementById("check");
  if (problems.length) {
    banner.className = "check bad";
    banner.textContent = "REPORT INCOMPLETE, missing: " + problems.join(", ");
    document.title = "%(failed)s: " + problems.join(", ");
  } else {
    banner.className = "check ok";
    banner.textContent = "All " + images.length + " images and " + EXPECTED_TABLES.length +
      " tables present.";
    document.title = "%(ok)s | " + document.title;
  }
});
"""


def page(title: str, sections: Sequence[str], tables: Sequence[str]) -> str:
    """The whole document; ``tables`` are the ids the self-check requires."""
    script = _CHECK % {"failed": CHECK_FAILED, "ok": CHECK_OK}
    expected = ", ".join(f'"{html.escape(t)}"' for t in tables)
    return (
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        "<div id='check' class='check pending'>Checking images and tables...</div>"
        f"<h1>{html.escape(title)}</h1>{''.join(sections)}"
        f"<script>var EXPECTED_TABLES = [{expected}];{script}</script></body></html>\n"
    )


def section(title: str, *parts: str) -> str:
    return f"<section><h2>{html.escape(title)}</h2>{''.join(parts)}</section>"


def heading(text: str) -> str:
    return f"<h3>{html.escape(text)}</h3>"


def paragraph(text: str, css: str = "") -> str:
    """A paragraph of plain text (escaped)."""
    attr = f" class='{css}'" if css else ""
    return f"<p{attr}>{html.escape(text)}</p>"


def image(src: str, alt: str) -> str:
    return f"<img src='{html.escape(src)}' alt='{html.escape(alt)}'>"


def link(href: str, text: str) -> str:
    return f"<a href='{html.escape(href)}'>{html.escape(text)}</a>"


def figure(title: str, src: str, caption: str) -> str:
    """A section holding one image and its caption."""
    return section(title, image(src, title), paragraph(caption, "caption"))


def table(
    table_id: str,
    header: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    baseline_rows: int = 0,
) -> str:
    """A table of escaped cells; floats get 4 decimals; the last ``baseline_rows`` are greyed."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        css = " class='baseline'" if i >= len(rows) - baseline_rows else ""
        body.append(f"<tr{css}>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>")
    return f"<table id='{html.escape(table_id)}'><tr>{head}</tr>{''.join(body)}</table>"


def facts(table_id: str, pairs: Sequence[tuple[str, object]]) -> str:
    """A two-column table of labels and values."""
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{cell(v)}</td></tr>" for k, v in pairs)
    return f"<table id='{html.escape(table_id)}' class='facts'>{rows}</table>"


def cell(value: object) -> str:
    """A table cell's escaped text: 4 decimals for floats, a dash for missing values."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}"
    return html.escape(str(value))
