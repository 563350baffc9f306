# The two commands: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: demo test test-slow bench install clean

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

# Every benchmark, each writing its section of docs/benchmarks.md (tests/test_docs.py checks
# that this list names every bench/*_bench.py).
BENCH_WRITE := docs/benchmarks.md
bench: $(STAMP)
	$(BIN)/python bench/validate_bench.py
	$(BIN)/python bench/quality_bench.py
	$(BIN)/python bench/bt_ds_bench.py
	$(BIN)/python bench/health_bench.py --write $(BENCH_WRITE)
	$(BIN)/python bench/report_bench.py
	$(BIN)/python bench/bridge_bench.py
	$(BIN)/python bench/train_bench.py --write $(BENCH_WRITE)
	$(BIN)/python bench/rollout_bench.py --write $(BENCH_WRITE)
	$(BIN)/python bench/active_bench.py --write $(BENCH_WRITE)

clean:
	rm -rf $(VENV) .alignment-ci
