# Two entry points for a newcomer: `make demo` and `make test`. Both create .venv from pyproject.toml first.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test setup lint typecheck clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/reverbere demo --duration 60

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check protocols gateway sim boards tools tests

typecheck: $(STAMP)
	$(BIN)/mypy --config-file firmware/mypy.ini firmware protocols

clean:
	rm -rf $(VENV) build dist *.egg-info
