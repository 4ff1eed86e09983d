# Shortcuts. The README's set-up commands (bin/dev, bin/test) need no make.
.PHONY: run test lint format bench bench-profile bench-images lock

run:
	bin/dev

test:
	bin/test

# ruff, with pyproject.toml's rules: `lint` checks as CI does, `format` rewrites in place.
lint:
	bin/venv requirements-dev.txt
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format:
	bin/venv requirements-dev.txt
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

# The benchmark: this stack against its peers, on 127.0.0.1 (needs nginx, wrk, PostgreSQL
# on 127.0.0.1:5432 or BENCH_DATABASE_URL, HAProxy, and Docker for the image figures). ~12 min.
bench:
	bin/venv requirements-dev.txt
	.venv/bin/python -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	.venv/bin/python bench/run.py $(BENCH_ARGS)

# Where a request for the guestbook page spends its time, before and after its rendering was
# cached, profiled in-process on PostgreSQL (127.0.0.1:5432 or BENCH_DATABASE_URL). ~1 min.
bench-profile:
	bin/venv requirements-dev.txt
	.venv/bin/python -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	.venv/bin/python bench/profile.py $(BENCH_ARGS)

# What checking and re-encoding an image attachment costs a worker (time, peak memory). ~1 min.
bench-images:
	bin/venv requirements-dev.txt
	.venv/bin/python bench/images.py

# The locks: requirements.txt and requirements-dev.txt from the .in files beside them, with
# every package's exact version and hashes, for every platform (--universal). Versions
# already locked are kept unless an .in file asks otherwise; add --upgrade to move them.
UV = uv==0.13.9
lock:
	bin/venv requirements-dev.txt
	.venv/bin/python -m pip install --quiet --disable-pip-version-check $(UV)
	.venv/bin/uv pip compile --quiet requirements.in --generate-hashes --universal --python-version 3.11 \
		--custom-compile-command "make lock" -o requirements.txt $(LOCK_ARGS)
	.venv/bin/uv pip compile --quiet requirements-dev.in --generate-hashes --universal --python-version 3.11 \
		--custom-compile-command "make lock" -o requirements-dev.txt $(LOCK_ARGS)
