"""The README's data dictionary names every column of every warehouse dataset."""

import re
from pathlib import Path

from pipeline.warehouse import SCHEMAS

README = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")


def test_the_data_dictionary_documents_every_warehouse_column():
    for trend, schema in SCHEMAS.items():
        section = README.split(f"### `{trend}`", 1)[1].split("\n### ", 1)[0]
        documented = re.findall(r"^\| `(\w+)` \|", section, flags=re.M)
        assert documented == schema.names, trend


def test_the_library_imports_no_prefect():
    import subprocess
    import sys

    code = ("import pkgutil, importlib, sys, pipeline\n"
            "for m in pkgutil.walk_packages(pipeline.__path__, 'pipeline.'): importlib.import_module(m.name)\n"
            "print('prefect' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert done.stdout.strip() == "False", done.stderr
