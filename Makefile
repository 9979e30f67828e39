# Common commands. `make demo` and `make test` each work on a fresh machine (they create .venv).
VENV ?= .venv
PYTHON := $(VENV)/bin/python

# Debian packages with offline data: WordNet 3.0 (augment=eda without a synonyms file) and
# Fashion-MNIST's original files (data=fashion_mnist, under /usr/share/datasets/fashion-mnist).
SYSTEM_PACKAGES := wordnet-base wordnet-sense-index dataset-fashion-mnist

.PHONY: setup system-packages demo test test-fast lint format bench ui server server-stop clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e ".[dev]"
	touch $@

# Installs Debian packages $(1) with apt-get as root (or with sudo); elsewhere says what is missing.
define apt_install
	@if dpkg -s $(1) >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(1); \
	elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1; then \
		sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(1); \
	else echo "note: install the Debian packages $(1) ($(2))"; fi
endef

$(VENV)/.system-packages: | $(VENV)/.installed
	$(call apt_install,$(SYSTEM_PACKAGES),WordNet 3.0 for augment=eda without a synonyms file; Fashion-MNIST for data=fashion_mnist: elsewhere put the four files of github.com/zalandoresearch/fashion-mnist in a folder and pass data.path=<folder>)
	touch $@

system-packages: $(VENV)/.system-packages  ## Debian packages with offline data (WordNet, Fashion-MNIST)

# The services some tests start: PostgreSQL (behind mlflow server) and Chromium (the UI test).
$(VENV)/.test-packages: | $(VENV)/.installed
	$(call apt_install,postgresql chromium,the tracking-server and browser tests skip without them)
	touch $@

setup: $(VENV)/.installed $(VENV)/.system-packages  ## create .venv, install ablate, its dev tools and data packages

demo: setup  ## the main job: an ablation study (SWA, label smoothing) on bundled MNIST, with its report
	$(PYTHON) -m ablate -m experiment=swa_smoothing

test: setup $(VENV)/.test-packages  ## the whole suite, slow tests included (what CI runs)
	$(PYTHON) -m pytest

test-fast: setup  ## the suite without tests marked slow
	$(PYTHON) -m pytest -m "not slow"

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: setup  ## wall time and memory of ablate vs a bare Keras script
	$(PYTHON) benchmarks/overhead.py

ui: setup  ## browse the runs of ./mlflow.db at http://127.0.0.1:5000 (store created under its lock)
	$(PYTHON) -c "from ablate.tracking import open_client; open_client('sqlite:///mlflow.db')"
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(VENV)/bin/mlflow ui --backend-store-uri sqlite:///mlflow.db --workers 1

server: setup  ## a team's tracking server: mlflow server on PostgreSQL at http://127.0.0.1:5000
	$(call apt_install,postgresql,PostgreSQL for the tracking server)
	$(PYTHON) -m ablate.server start

server-stop: setup  ## stops `make server`
	$(PYTHON) -m ablate.server stop

clean:
	rm -rf outputs multirun mlruns mlflow.db
