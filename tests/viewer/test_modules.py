"""The page's ES modules link: every relative import names a file in ``static/js`` (which the
export copies whole and package data takes as ``js/*.js``) and names that file exports. Checked
without a browser, so a split module that would leave the page blank fails where the browser
tests skip."""

from __future__ import annotations

import re

import pytest

from nerveseg.viewer.assets import static_dir

JS = static_dir() / "js"
IMPORT = re.compile(r'import\s*\{([^}]*)\}\s*from\s*"\./([^"]+)"')
EXPORT = re.compile(r"export\s+(?:async\s+)?(?:function|const|let|class)\s+([\w$]+)")


@pytest.mark.parametrize("module", sorted(p.name for p in JS.glob("*.js")))
def test_every_import_is_a_module_of_the_page_and_exported_there(module):
    for names, target in IMPORT.findall((JS / module).read_text(encoding="utf-8")):
        assert (JS / target).is_file() and target.endswith(".js"), f"{module}: ./{target}"
        exported = set(EXPORT.findall((JS / target).read_text(encoding="utf-8")))
        for name in (n.strip() for n in names.split(",") if n.strip()):
            assert name in exported, f"{module} imports {name} from {target}, which lacks it"


def test_the_page_loads_main_and_main_reaches_every_module():
    """index.html loads main.js; every module of static/js is reachable from it (none stale)."""
    assert '<script type="module" src="js/main.js">' in (static_dir() / "index.html").read_text()
    reached, todo = set(), ["main.js"]
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo += [t for _, t in IMPORT.findall((JS / module).read_text(encoding="utf-8"))]
    assert reached == {p.name for p in JS.glob("*.js")}
