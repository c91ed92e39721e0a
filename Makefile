# Every target creates or reuses the virtual environment by itself.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv test test-slow test-all mutation-check demo benchmark clean-venv

venv: $(STAMP)

$(STAMP): pyproject.toml requirements/runtime.txt requirements/openmmlab.txt requirements/triton.txt requirements/deploy.txt tools/misc/install_env.sh tools/misc/check_env.py
	VENV=$(VENV) bash tools/misc/install_env.sh
	touch $@

test: $(STAMP)
	$(PY) -m pytest

test-slow: $(STAMP)
	$(PY) -m pytest -m slow

test-all: $(STAMP)
	$(PY) -m pytest -m ''

mutation-check: $(STAMP)
	$(PY) tools/misc/mutation_check.py

demo: $(STAMP)
	$(PY) tools/misc/demo.py

benchmark: $(STAMP)
	$(PY) tools/analysis_tools/benchmark_scan.py
	$(PY) tools/analysis_tools/benchmark_backbone.py

clean-venv:
	rm -rf $(VENV)
