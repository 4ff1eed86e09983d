# Shortcuts. The README's set-up commands (bin/dev, bin/test) need no make.
.PHONY: run test bench bench-profile bench-images

run:
	bin/dev

test:
	bin/test

# The benchmark: this stack against its peers, on 127.0.0.1 (needs nginx, wrk, PostgreSQL
# on 127.0.0.1:5432 or BENCH_DATABASE_URL, and Docker for the image figures). ~15 min.
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
