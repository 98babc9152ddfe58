# The two commands of the README: `make demo` and `make test`.
# Everything is installed into .venv from pinned files; nothing by hand.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: setup system-packages demo test lint bench clean

setup: system-packages $(VENV)/.installed

system-packages:
	bash scripts/install-system-packages.sh

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "pip==26.3"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

demo: setup
	$(BIN)/her2qa demo

# Two workers (the machine's 2 cores), whole files per worker: a module's fixtures are built once.
test: setup
	$(BIN)/python -m pytest -n 2 --dist loadfile

lint: setup
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python benchmarks/ingest_benchmark.py
	$(BIN)/python benchmarks/marts_benchmark.py

clean:
	rm -rf $(VENV) var build
