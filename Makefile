# Everything a fresh machine needs is installed from here: `make test`, `make demo`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint typecheck unit demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the project's dependencies or constraints change.
$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy --strict prefect_stripe_identity

unit: install
	$(BIN)/python -m pytest -q

test: lint typecheck unit

# The main job against the embedded emulator; a local Prefect server starts on its own.
demo: install
	$(BIN)/prefect-stripe-identity demo

bench: install
	$(BIN)/python benchmarks/client_overhead.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build *.egg-info
