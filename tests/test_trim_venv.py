"""bin/trim-venv, the image build's trimming of its virtualenv, on a stand-in virtualenv (no Docker): it removes
what its patterns match and keeps what the app runs; a pattern matching nothing fails it, naming the pattern."""

import importlib.machinery
import importlib.util
import subprocess
import sys

import pytest

from tests.servers import ROOT

SITE = "lib/python3.13/site-packages"
# One file for each of bin/trim-venv's patterns (a pattern matching nothing would stop trim()).
GONE = [
    "bin/pip3",
    f"{SITE}/pip/__init__.py",
    f"{SITE}/pip-25.0.dist-info/METADATA",
    f"{SITE}/django/conf/locale/fr/LC_MESSAGES/django.po",
    f"{SITE}/django/__pycache__/__init__.cpython-313.pyc",
    f"{SITE}/botocore/data/ec2/2016-11-15/service-2.json.gz",
    f"{SITE}/PIL/_avif.cpython-313-x86_64-linux-gnu.so",
    f"{SITE}/PIL/_imagingft.cpython-313-x86_64-linux-gnu.so",
    f"{SITE}/PIL/_imagingtk.cpython-313-x86_64-linux-gnu.so",
    *(f"{SITE}/pillow.libs/{lib}-0123abcd.so.1" for lib in ("libavif", "libfreetype", "libharfbuzz", "libpng16")),
    f"{SITE}/pillow.libs/libbrotlicommon-0123abcd.so.1",
    f"{SITE}/brotli.py",
    f"{SITE}/brotli-1.2.1.dist-info/METADATA",
    f"{SITE}/_brotli.cpython-313-x86_64-linux-gnu.so",
]
KEPT = [
    "bin/gunicorn",
    f"{SITE}/django/__init__.py",
    f"{SITE}/django/conf/locale/fr/LC_MESSAGES/django.mo",
    f"{SITE}/botocore/data/endpoints.json",
    f"{SITE}/botocore/data/s3/2006-03-01/service-2.json.gz",
    f"{SITE}/botocore/data/sts/2011-06-15/service-2.json.gz",
    f"{SITE}/PIL/_imaging.cpython-313-x86_64-linux-gnu.so",
    f"{SITE}/PIL/_webp.cpython-313-x86_64-linux-gnu.so",
    *(f"{SITE}/pillow.libs/{lib}-0123abcd.so.1" for lib in ("libjpeg", "libwebp", "libsharpyuv")),
]


@pytest.fixture
def trim():
    loader = importlib.machinery.SourceFileLoader("trim_venv", str(ROOT / "bin" / "trim-venv"))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module.trim


def make(root, names):
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(name)


def remaining(root):
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


def test_trims_what_its_patterns_match_and_keeps_the_rest(trim, tmp_path):
    make(tmp_path, GONE + KEPT)
    trim(tmp_path)
    assert remaining(tmp_path) == sorted(KEPT)


def test_a_pattern_matching_nothing_stops_it_before_anything_goes(trim, tmp_path):
    """As after an upgrade that renamed a file: the build fails, naming the pattern, instead of growing the image."""
    make(tmp_path, [name for name in GONE if "libavif" not in name] + KEPT)
    with pytest.raises(SystemExit) as stopped:
        trim(tmp_path)
    assert str(stopped.value) == "bin/trim-venv: nothing matches **/pillow.libs/libavif* (renamed?)\n"
    assert len(remaining(tmp_path)) == len(GONE) - 1 + len(KEPT)


def test_run_in_an_empty_virtualenv_names_every_pattern(tmp_path):
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path)], check=True, timeout=60)
    result = subprocess.run(
        [tmp_path / "bin" / "python3", ROOT / "bin" / "trim-venv"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "nothing matches bin/pip*" in result.stderr and "nothing matches **/botocore/data/*/" in result.stderr
    assert "Traceback" not in result.stderr
