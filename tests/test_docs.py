"""The documentation says what the code does: the data dictionary names every warehouse column,
every relative link resolves, and the library imports no Prefect."""

import re
from pathlib import Path

import pytest

from pipeline.warehouse import SCHEMAS

ROOT = Path(__file__).parents[1]
DICTIONARY = (ROOT / "docs" / "data-dictionary.md").read_text(encoding="utf-8")
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def test_the_data_dictionary_documents_every_warehouse_column():
    for trend, schema in SCHEMAS.items():
        section = DICTIONARY.split(f"## `{trend}`", 1)[1].split("\n## ", 1)[0]
        documented = re.findall(r"^\| `(\w+)` \|", section, flags=re.M)
        assert documented == schema.names, trend


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    targets = [t for t in LINK.findall(page.read_text(encoding="utf-8"))
               if not re.match(r"^[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]
    missing = [t for t in targets if not (page.parent / t.split("#", 1)[0]).exists()]
    assert missing == []


def test_the_link_check_finds_links():
    assert "docs/cli.md" in LINK.findall((ROOT / "README.md").read_text(encoding="utf-8"))


def test_the_library_imports_no_prefect():
    import subprocess
    import sys

    code = ("import pkgutil, importlib, sys, pipeline\n"
            "for m in pkgutil.walk_packages(pipeline.__path__, 'pipeline.'): importlib.import_module(m.name)\n"
            "print('prefect' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.stdout.strip() == "False", done.stderr

