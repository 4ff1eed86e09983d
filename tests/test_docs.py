"""The documentation's promises point at tests that exist: every `file::test` named in
README.md, docs/ and bench/README.md is a test function in that file."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
POINTER = re.compile(r"`((?:tests|exampleapp/tests)/[\w/]+\.py)::(\w+)`")


def test_every_test_a_page_names_exists():
    named = [(page, *found) for page in PAGES for found in POINTER.findall(page.read_text())]
    assert len(named) > 40, "docs/security.md points at the tests that keep its promises"
    for page, path, name in named:
        if path.startswith("exampleapp/") and not (ROOT / "exampleapp").is_dir():
            continue  # the example app removed (README, "Removing the example app"): its tests went with it
        source = ROOT / path
        assert source.is_file(), f"{page.relative_to(ROOT)}: {path} does not exist"
        assert re.search(rf"^(async )?def {name}\(", source.read_text(), re.M), (
            f"{page.relative_to(ROOT)}: {path}::{name} is not a test there"
        )
