# Every target creates .venv when it is missing; when it exists (and pyproject.toml and the lock file are
# older) nothing is reinstalled. Installs take the exact versions in requirements/constraints.txt.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements/constraints.txt

.PHONY: setup demo test test-heavy bench bench-accuracy bench-serving lint docs lock clean

setup: $(STAMP)

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	$(BIN)/pip install --quiet -c $(LOCK) -e ".[dev]"
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

# Uses Ray when installed (the dev extra brings it; users: pip install ".[ray]"), else the service's workers.
bench-serving: $(STAMP)
	$(BIN)/python -m benchmarks.serving

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks docs/scripts
	$(BIN)/ruff format --check src tests benchmarks docs/scripts

# Warnings are errors (strict: true in mkdocs.yml); the site goes to build/site. The dev extra brings mkdocs.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# After changing a dependency: install it into .venv, check `make test`, then pin what is installed.
lock: $(STAMP)
	{ sed -n '/^#/p' $(LOCK); $(BIN)/pip freeze --all --exclude-editable --exclude pip | grep -v '^#'; } > $(LOCK).new
	mv $(LOCK).new $(LOCK)

clean:
	rm -rf $(VENV) build site *.egg-info src/*.egg-info
