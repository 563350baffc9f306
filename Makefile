# The two commands: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: demo test test-slow test-labelstudio bench install clean verl-env test-verl

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
	$(BIN)/python bench/critic_bench.py --write $(BENCH_WRITE)
	$(BIN)/python bench/gate_bench.py --write $(BENCH_WRITE)
	$(BIN)/python bench/gpu_bench.py --dry-run

# verl (the `ppo` stage's engine) pins transformers<5.11, so it lives in its own environment.
# Order matters: torch's CPU wheel first, transformers<5.11 before verl (a stale `kernels`
# package left by a newer transformers breaks verl's imports), then verl and this package.
VERL_VENV := .venv-verl
VERL_STAMP := $(VERL_VENV)/.installed
$(VERL_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VERL_VENV)
	$(VERL_VENV)/bin/pip install --quiet --upgrade pip
	$(VERL_VENV)/bin/pip install --quiet torch==2.13.0
	$(VERL_VENV)/bin/pip install --quiet 'transformers>=5.5.3,<5.11,!=5.6.0'
	$(VERL_VENV)/bin/pip install --quiet verl==0.9.1 'pytest>=8,<10'
	$(VERL_VENV)/bin/pip install --quiet -e .
	$(VERL_VENV)/bin/pip uninstall --quiet -y kernels 2>/dev/null || true
	$(VERL_VENV)/bin/python -c "import torch, transformers, verl.trainer.main_ppo; assert torch.__version__.startswith('2.13'), torch.__version__"
	touch $(VERL_STAMP)

verl-env: $(VERL_STAMP)

# The ppo stage's checks up to the GPU boundary (verl has no CPU execution path).
test-verl: $(VERL_STAMP)
	$(VERL_VENV)/bin/python -m pytest -q -p no:cacheprovider tests_verl

clean:
	rm -rf $(VENV) $(VERL_VENV) .alignment-ci
