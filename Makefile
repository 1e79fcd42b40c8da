# Two entry points for a newcomer: `make demo` and `make test`. Both create .venv from pyproject.toml first.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
STUBS := $(VENV)/typings/micropython

.PHONY: demo test setup lint typecheck clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/reverbere demo --duration 60

test: typecheck
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check protocols gateway sim boards tools tests

# The code that runs on the chip is checked against MicroPython's ESP32 stubs, kept apart from CPython's.
$(STUBS)/.stamp: $(STAMP)
	$(BIN)/python -m pip install --quiet --no-deps --target $(STUBS) \
		micropython-esp32-stubs==1.29.0.post1 micropython-stdlib-stubs==1.29.0.post2
	touch $@

typecheck: $(STUBS)/.stamp
	$(BIN)/mypy --config-file firmware/mypy.ini firmware protocols

clean:
	rm -rf $(VENV) build dist *.egg-info
