# Every target creates .venv when it is missing; when it exists (and pyproject.toml is older) nothing is reinstalled.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-heavy bench bench-accuracy lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m veil.demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not heavy"

test-heavy: $(STAMP)
	$(BIN)/python -m pytest -q -m heavy

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

bench-accuracy: $(STAMP)
	$(BIN)/python -m benchmarks.accuracy

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
