# The two commands: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: demo test test-slow test-labelstudio bench install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch first, pinned to the CPU wheel on disk, so nothing later pulls a CUDA build.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[train,test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/alignment-ci demo

test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow -q

# A real Label Studio for tests/test_labelstudio_live.py, in its own environment (it pins its own
# Django, pandas, numpy...): never in .venv.
LS_VENV := .venv-labelstudio
$(LS_VENV)/.installed:
	$(PYTHON) -m venv $(LS_VENV)
	LATEST_VERSION_CHECK=false $(LS_VENV)/bin/pip install --quiet label-studio==1.23.2
	touch $@

test-labelstudio: $(STAMP) $(LS_VENV)/.installed
	ALIGNMENT_CI_LABEL_STUDIO=$(abspath $(LS_VENV))/bin/label-studio $(BIN)/python -m pytest tests/test_labelstudio_live.py -q

bench: $(STAMP)
	$(BIN)/python bench/validate_bench.py

clean:
	rm -rf $(VENV) .alignment-ci
