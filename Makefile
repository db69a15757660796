# The README's two commands: `make run` (the product on its embedded default) and
# `make test` (the whole suite). Both need only python3 (3.11+) and make: the first
# target that needs the virtual environment builds it from uv.lock.

PYTHON ?= python3
VENV ?= .venv
# uv itself is installed into the virtual environment with pip, at a tested version.
UV_VERSION ?= 0.13.9
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_ORGANIZATIONS ?= 2500
PYTEST_ARGS ?=
# Tests run in one process per core (pytest-xdist); PYTEST_WORKERS=0 runs them in this one.
PYTEST_WORKERS ?= auto

BIN := $(VENV)/bin
COALITION := $(BIN)/coalition
SETUP_STAMP := $(VENV)/.coalition-setup

# uv installs into our .venv, never downloads a Python, and Playwright never
# downloads browsers: the browser tests drive Debian's chromium.
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
export UV_PYTHON_DOWNLOADS := never
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.DEFAULT_GOAL := help
.PHONY: help run test lint setup clean bench fuzz reliability

help:
	@echo "make run    set up, migrate, load countries, seed demo data if empty, serve with a worker"
	@echo "make test   run the whole test suite (PYTEST_ARGS=... passes options to pytest)"
	@echo "make lint   ruff check, ruff format --check, mypy"
	@echo "make fuzz   a long, randomised Schemathesis run against the API (FUZZ_MAX_EXAMPLES=200)"
	@echo "make bench  every benchmark in one table: figures, goals, references (PostgreSQL, Redis, postfix, wrk)"
	@echo "make reliability  faults during a campaign and tracking under load, as a table (PostgreSQL, redis-server, wrk)"
	@echo "make setup  create $(VENV) and install the locked dependencies"
	@echo "make clean  remove $(VENV) and caches (keeps the database in var/)"

setup: $(SETUP_STAMP)

# Re-runs only when the lock or the project metadata change; `uv sync` is quick
# and idempotent. --inexact keeps uv (and pip) in the environment although the lock
# does not list them.
$(SETUP_STAMP): pyproject.toml uv.lock
	@if [ ! -x "$(BIN)/python" ]; then \
		$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed; set PYTHON=python3.x")' \
		&& echo "Creating $(VENV) with $$($(PYTHON) --version)" \
		&& $(PYTHON) -m venv "$(VENV)"; \
	fi
	@if [ ! -x "$(BIN)/uv" ]; then \
		{ "$(BIN)/python" -m pip --version >/dev/null 2>&1 || "$(BIN)/python" -m ensurepip --default-pip >/dev/null; } \
		&& echo "Installing uv $(UV_VERSION) into $(VENV)" \
		&& "$(BIN)/python" -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"; \
	fi
	"$(BIN)/uv" sync --frozen --inexact
	@touch "$@"

# The embedded default: SQLite in var/, demo mode (the built-in secret key is allowed).
run: export DEMO_MODE ?= 1
run: setup
	"$(COALITION)" db upgrade
	"$(COALITION)" countries load
	"$(COALITION)" demo seed --organizations $(DEMO_ORGANIZATIONS) --if-empty
	"$(COALITION)" demo users
	"$(COALITION)" demo alerts
	@# The worker and the scheduler run beside the web server and stop with it.
	trap 'kill 0' EXIT INT TERM; \
	"$(COALITION)" worker & \
	"$(COALITION)" scheduler & \
	"$(COALITION)" serve --host $(HOST) --port $(PORT)

test: setup
	"$(BIN)/pytest" -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# API fuzzing: the CI run of tests/security/test_api_fuzz.py is small and derandomised;
# this one generates many more requests per operation, anew each time.
FUZZ_MAX_EXAMPLES ?= 200
fuzz: setup
	FUZZ_MAX_EXAMPLES=$(FUZZ_MAX_EXAMPLES) "$(BIN)/pytest" -n 0 tests/security/test_api_fuzz.py $(PYTEST_ARGS)

# Benchmarks print figures against their goals in one table; they are not tests (see
# bench/). BENCH_ARGS="--quick" runs each at a small size; "--only registry" one of them.
BENCH_ARGS ?=
bench: setup
	"$(BIN)/python" -m bench $(BENCH_ARGS)

# Faults during a campaign (SIGKILLs, Redis, relay, PostgreSQL, scheduler) and tracking
# under load, at full size; CI runs the short version (tests/faults).
reliability: setup
	"$(BIN)/python" -m bench.reliability

lint: setup
	"$(BIN)/ruff" check .
	"$(BIN)/ruff" format --check .
	"$(BIN)/mypy" app workers

clean:
	rm -rf "$(VENV)" .pytest_cache .mypy_cache .ruff_cache test-results
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
