# Two commands: `make run` and `make test`. Each does its own set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Debian's Chromium, driven by the console's browser tests (never a browser Playwright downloads).
CHROMIUM ?= /usr/bin/chromium
export CHROMIUM_PATH := $(CHROMIUM)

.PHONY: run test install lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# On a fresh machine (CI included) the browser tests' Chromium is installed here, so they run, never skip.
$(CHROMIUM):
	@echo "Installing Debian's chromium for the browser tests"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null

run: export DEBUG ?= true
run: export ALLOW_PRIVATE_UPSTREAMS ?= true
run: export MALLOC_ARENA_MAX ?= 2
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py ensure_demo
	$(BIN)/python manage.py run_hub

test: install $(CHROMIUM)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The soak (bench/soak.py): the whole hub under load, on the PostgreSQL and Redis of 127.0.0.1;
# see bench/README.md. BENCH_ARGS passes flags, e.g. `make bench BENCH_ARGS="--rate 100"`.
bench: install
	$(BIN)/python bench/soak.py $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) var
