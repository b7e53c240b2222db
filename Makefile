# The two commands of a fresh machine (README.md). Each installs what it needs on first use.
#   make demo   - the main job: planner + world model driving the embedded simulator
#   make test   - the test suite (what CI runs)
# Extra arguments: make demo ARGS="--episodes 5", make test PYTEST_ARGS="-m 'not slow'"

VENV ?= .venv
PY := $(VENV)/bin/python
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST
export MUJOCO_GL ?= egl
export HOME ?= /root

.PHONY: setup demo test lint bench clean

setup:
	@WMR_VENV=$(VENV) tools/bootstrap.sh

demo: setup
	$(VENV)/bin/world-model-ros demo $(ARGS)

# pytest's own script, not `python -m pytest`: that would put the repository root on sys.path
# ahead of the installed package (its launch/ folder would shadow the `launch` package).
test: setup
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# The linters alone (ruff, ruff format, mypy on the core); `make test` runs them too.
lint: setup
	$(VENV)/bin/pytest test/test_lint.py

bench: setup
	$(PY) bench/latency.py $(ARGS)

clean:
	rm -rf build $(VENV)
