# Common commands. `make demo` and `make test` each work on a fresh machine (they create .venv).
VENV ?= .venv
PYTHON := $(VENV)/bin/python

.PHONY: setup demo test test-fast lint format bench ui clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e ".[dev]"
	touch $@

setup: $(VENV)/.installed  ## create .venv and install ablate with its dev tools

demo: setup  ## the main job: an ablation study (SWA, label smoothing) on bundled MNIST, with its report
	$(PYTHON) -m ablate -m experiment=swa_smoothing

test: setup  ## the whole suite, slow tests included (what CI runs)
	$(PYTHON) -m pytest

test-fast: setup  ## the suite without tests marked slow
	$(PYTHON) -m pytest -m "not slow"

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: setup  ## wall time and memory of ablate vs a bare Keras script
	$(PYTHON) benchmarks/overhead.py

ui: setup  ## browse the runs of ./mlflow.db at http://127.0.0.1:5000
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///mlflow.db --workers 1

clean:
	rm -rf outputs multirun mlruns mlflow.db
