"""The reading load of the core: what a Django developer reads to follow one request and one
deploy (exampleproject/ without tests and migrations, conf/, bin/, Dockerfile,
docker-compose.yml), and of README.md. `python bench/reading.py [COMMIT]` (default: the work tree)."""

import io
import subprocess
import sys
import tokenize

CORE = ["exampleproject", "conf", "bin", "Dockerfile", "docker-compose.yml"]


def files(commit):
    listed = subprocess.run(
        ["git", "ls-files", *CORE] if commit is None else ["git", "ls-tree", "-r", "--name-only", commit, "--", *CORE],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [name for name in listed if "/tests/" not in name and "/migrations/" not in name]


def read(commit, name):
    if commit is None:
        with open(name, encoding="utf-8") as file:
            return file.read()
    return subprocess.run(["git", "show", f"{commit}:{name}"], capture_output=True, text=True, check=True).stdout


def python_comment_words(text):
    """Words in comments and docstrings (a string statement standing alone)."""
    words, previous = 0, tokenize.NEWLINE
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.COMMENT:
            words += len(token.string.lstrip("#").split())
        elif token.type == tokenize.STRING and previous in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            words += len(token.string.strip("\"'rbf").split())
        if token.type not in (tokenize.NL, tokenize.COMMENT):
            previous = token.type
    return words


def hash_comment_words(text):
    """Words after a # that starts a line or follows a blank (shell, nginx, Dockerfile, YAML)."""
    words = 0
    for line in text.splitlines():
        if line.startswith("#!"):
            continue
        stripped = line.strip()
        if stripped.startswith("#"):
            words += len(stripped.lstrip("#").split())
        elif " # " in line:
            words += len(line.split(" # ", 1)[1].split())
    return words


def measure(commit=None):
    lines = comment_words = 0
    for name in files(commit):
        text = read(commit, name)
        lines += text.count("\n")
        python = name.endswith(".py") or text.startswith("#!/usr/bin/env python")
        comment_words += python_comment_words(text) if python else hash_comment_words(text)
    settings = read(commit, "exampleproject/settings.py").count("\n")
    readme = len(read(commit, "README.md").split())
    return {
        "core lines": lines,
        "settings.py lines": settings,
        "core comment words": comment_words,
        "README words": readme,
    }


if __name__ == "__main__":
    for what, value in measure(sys.argv[1] if len(sys.argv) > 1 else None).items():
        print(f"{what}: {value}")
