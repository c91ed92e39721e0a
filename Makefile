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

test: lint
	$(PY) -m pytest --durations=15

test-slow: $(STAMP)
	$(PY) -m pytest -m slow --durations=15

test-all: $(STAMP)
	$(PY) -m pytest -m ''

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
