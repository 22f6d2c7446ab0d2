# Two commands a new user needs: `make demo` and `make test`. Both create the
# virtualenv from pyproject.toml on first use (and refresh it when pyproject changes).
# `make lint` is what CI runs before the tests (settings in pyproject.toml).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "tripwire needs $(PYTHON) on PATH (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/tripwire demo $(ARGS)

# Test files run in 3 processes (pytest-xdist; a file stays in one process, so its fixtures are
# shared as written). ARGS="-n0 tests/…" runs in this process.
test: $(STAMP)
	$(BIN)/python -m pytest -n 3 --dist loadfile $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
