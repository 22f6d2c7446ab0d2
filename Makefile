# Two commands a new user needs: `make demo` and `make test`. Both create the
# virtualenv from pyproject.toml on first use (and refresh it when pyproject changes).
# `make lint` is what CI runs before the tests (settings in pyproject.toml).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# extras installed with the test tools; CI adds `alpha` (PyTorch CPU, docs/ALPHA.md) so the
# learned model's tests run instead of skipping: EXTRAS=test,alpha
EXTRAS ?= test

.PHONY: demo test lint bench clean compile clean-compiled

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "tripwire needs $(PYTHON) on PATH (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[$(EXTRAS)]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/tripwire demo $(ARGS)

# Test files run in 3 processes (pytest-xdist; a file stays in one process, so its fixtures are
# shared as written). ARGS="-n0 tests/…" runs in this process.
test: $(STAMP)
	$(BIN)/python -m pytest -n 3 --dist loadfile --durations=15 $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Optional: the hot path's pure core (tripwire/compiled.py: CORE) compiled with mypyc into
# extension modules beside the sources; Python imports them instead. TRIPWIRE_PURE=1 runs the
# pure-Python core anyway; `make clean-compiled` removes the build.
CORE = $(shell $(BIN)/python -c "from tripwire.compiled import CORE; print(' '.join(CORE))")
compile: $(STAMP)
	$(BIN)/mypyc $(CORE)

clean-compiled:
	find tripwire -name '*.so' -delete
	rm -f *__mypyc*.so
	rm -rf build

bench: $(STAMP)
	$(BIN)/python -m bench $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
