# lewm-plan: set-up, tests, and the reproducible pipelines.
# The CPU wheel of torch is installed first and pinned, so pip never pulls several GB of CUDA packages.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH ?= torch==2.13.0
export MUJOCO_GL ?= egl

.PHONY: setup test demo goal clean-venv

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "$(TORCH)"
	$(PIP) install -q -e ".[dev]"
	touch $@

setup: $(VENV)/.installed  ## create .venv and install the package with its test tools

test: setup  ## run the test suite
	$(VENV)/bin/pytest -q

demo: setup  ## plan towards the example goal with the shipped reacher model
	$(VENV)/bin/lewm-plan --env reacher --goal agent/examples/reacher_goal.png

clean-venv:
	rm -rf $(VENV)
