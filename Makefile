# Everything a fresh machine needs is installed from here: `make test`, `make demo`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install chromium test lint typecheck unit docs demo bench reliability scale generate \
	screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the project's dependencies or constraints change.
$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) chromium

# Headless Chromium and chromedriver (Debian's packages) for the browser tests and
# `make screenshots`: apt-get runs only when one is missing and we are root.
chromium:
	@bash scripts/ensure-chromium.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy --strict prefect_stripe_identity

# Four workers on two cores: most tests wait on servers, sleeps and subprocesses. Each
# worker is a test session of its own (its own Prefect home and, when needed, server).
# loadgroup: one test at a time to whichever worker is free (the `long` ones first), a
# docs page's blocks together.
PYTEST_WORKERS ?= 4

unit: install
	$(BIN)/python -m pytest -q -m "not reliability" -n $(PYTEST_WORKERS) --dist loadgroup

# The documentation site, built strictly: a broken link or reference fails the build.
docs: install
	$(BIN)/mkdocs build --strict --quiet --site-dir build/site

test: lint typecheck unit docs

# The main job against the embedded emulator; a local Prefect server starts on its own.
demo: install
	$(BIN)/prefect-stripe-identity demo

bench: install
	$(BIN)/python benchmarks/run_all.py

# The long reliability runs (tests/reliability, marked `reliability`); `make test` runs short versions.
reliability: install
	$(BIN)/python -m pytest -q -m reliability tests/reliability

# Verifications at volume on a production-shaped deployment: PostgreSQL, a Prefect server,
# two process workers, two webhook receivers, the emulator (SCALE_N people, default 200).
scale: install
	$(BIN)/python benchmarks/scale.py

# The resources, the tasks, their exports and reference page, from the endpoint table
# (prefect_stripe_identity/_endpoints.py); `make test` fails while they are stale.
generate: install
	$(BIN)/python scripts/generate.py

# The pictures of the docs (docs/images/): the hosted verification page and the Prefect
# UI (the verify deployment's form, a finished run's logs and artifact), taken in headless
# Chromium from a throw-away Prefect server, deployment and emulator. About a minute.
screenshots: install
	$(BIN)/python scripts/screenshots.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build *.egg-info
