"""bin/rename: a renamed copy of the template (the project and the example app, which is why
this test lives with the app) still passes their tests."""

import os
import subprocess
import sys

from tests.servers import copy_working_tree


def test_renamed_copy_passes_the_app_tests(tmp_path):
    copy = copy_working_tree(tmp_path / "shop-site")
    subprocess.run(["git", "init", "-q"], cwd=copy, check=True)
    subprocess.run(["git", "add", "-A"], cwd=copy, check=True)

    renamed = subprocess.run(["bin/rename", "shop", "catalog"], cwd=copy, capture_output=True, text=True)
    assert renamed.returncode == 0, renamed.stderr
    assert (copy / "shop" / "settings.py").is_file()
    assert (copy / "catalog" / "templates" / "catalog" / "index.html").is_file()
    assert (copy / "catalog" / "static" / "catalog" / "style.css").is_file()
    leftovers = subprocess.run(
        ["git", "grep", "-l", "-i", "-e", "exampleproject", "-e", "exampleapp"],
        cwd=copy,
        capture_output=True,
        text=True,
    ).stdout
    assert leftovers == ""

    # A clean environment: the parent run's DJANGO_SETTINGS_MODULE names the old project.
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_settings.py",
            "catalog/tests/test_guestbook.py",
            "tests/test_health.py",
            "tests/test_deploy_check.py",
        ],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout.splitlines()[-1] and "failed" not in result.stdout.splitlines()[-1]
