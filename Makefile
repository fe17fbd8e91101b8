# The two commands of the README. Both install everything they need first.
SHELL := /bin/bash
# One BLAS thread: on 2 cores shared with R and pytest workers, threaded OpenBLAS is
# hundreds of times slower for the small matrix products the models make.
export OPENBLAS_NUM_THREADS := 1
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
DEB_PACKAGES := r-base-core r-cran-lme4 r-cran-geepack r-cran-mice r-cran-mass r-cran-survival r-cran-jsonlite chromium chromium-driver

.PHONY: demo test install deb-deps lint types unit

install:
	@command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv
	uv sync --frozen

# Debian packages the tests need (R for the reference fits, Chromium for browser tests).
deb-deps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

demo: install
	uv run mindtrial demo

lint:
	uv run ruff check src tests $(wildcard bench)
	uv run ruff format --check src tests $(wildcard bench)
	uv run lint-imports

types:
	uv run mypy

# Every test on SQLite, then the storage and web tests again on PostgreSQL (in CI a
# PostgreSQL that does not answer fails the run; it is never skipped).
PG_URL ?= postgresql://postgres@127.0.0.1:5432/test

# Everything is installed by now, so a skipped test means a missing part: fail instead.
unit: export MINDTRIAL_FORBID_SKIPS := 1
unit:
	uv run pytest -n 2 -m "not postgres"
	DATABASE_URL=$(PG_URL) uv run pytest -n 2 tests/web

test: install deb-deps lint types unit
