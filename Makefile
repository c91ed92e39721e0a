# Every target creates or reuses the virtual environment by itself.
VENV ?= .venv
PY := $(VENV)/bin/python
# mmcv without compiled ops (lite, nothing to compile) or with them (compiled); by default what is installed.
MMCV ?= $(shell cat $(VENV)/.mmcv 2>/dev/null || echo lite)
STAMP := $(VENV)/.installed-$(MMCV)

.PHONY: venv lint test test-slow test-all mutation-check demo benchmark gpu-check clean-venv

venv: $(STAMP)

$(STAMP): pyproject.toml setup.py requirements/runtime.txt requirements/tests.txt requirements/openmmlab.txt requirements/triton.txt requirements/deploy.txt tools/misc/install_env.sh tools/misc/check_env.py
	rm -f $(VENV)/.installed-*
	VENV=$(VENV) MMCV=$(MMCV) bash tools/misc/install_env.sh
	echo $(MMCV) > $(VENV)/.mmcv
	touch $@

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# Tests run in WORKERS pytest-xdist processes, a test file to each in turn (module fixtures are built once), with
# one thread per process: on 2 cores two workers overlap one test's imports and subprocess start-up with another's
# computation, where one worker with two threads leaves a core idle.
WORKERS ?= 2
PYTEST := OMP_NUM_THREADS=1 $(PY) -m pytest -n $(WORKERS) --dist loadfile

test: lint
	$(PYTEST) --durations=15

test-slow: $(STAMP)
	$(PYTEST) -m slow --durations=15

test-all: $(STAMP)
	$(PYTEST) -m ''

mutation-check: $(STAMP)
	$(PY) tools/misc/mutation_check.py

demo: $(STAMP)
	$(PY) tools/misc/demo.py

# On a GPU machine: correctness and speed there, as a Markdown report (work_dirs/gpu_check/); ARGS=--device cpu
# runs the small CPU version.
gpu-check: $(STAMP)
	$(PY) tools/analysis_tools/gpu_check.py $(ARGS)

benchmark: $(STAMP)
	$(PY) tools/analysis_tools/benchmark_scan.py
	$(PY) tools/analysis_tools/benchmark_backbone.py

clean-venv:
	rm -rf $(VENV)
