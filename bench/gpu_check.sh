#!/usr/bin/env bash
# GPU check: train the reward, DPO and GRPO stages on a ~0.4B model and, where verl and
# vLLM import, one verl PPO step; write tokens/s and peak memory to docs/benchmarks.md
# ("GPU check"). Run it on a machine with a CUDA GPU, from the repository root:
#
#   bash bench/gpu_check.sh             # GPU: measure and update docs/benchmarks.md
#   bash bench/gpu_check.sh --dry-run   # CPU: tiny model, 2 steps; prints, writes nothing
#
# Python: $PYTHON, else .venv/bin/python, else python3. It must have torch (a CUDA build
# for the real run), trl, transformers, accelerate, datasets; verl and vllm are optional.
# The machine needs no network: the model is built from a config.
# Environment: STEPS (default 20), BATCH (8), PROCESSES (1; >1 runs the TRL stages in
# that many processes, one per GPU).
set -euo pipefail
cd "$(dirname "$0")/.."

dry_run=0
for arg in "$@"; do
    case "$arg" in
        --dry-run) dry_run=1 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "gpu_check.sh: unknown argument $arg (use --dry-run or nothing)" >&2; exit 2 ;;
    esac
done

if [ -n "${PYTHON:-}" ]; then
    py=$PYTHON
elif [ -x .venv/bin/python ]; then
    py=.venv/bin/python
else
    py=python3
fi

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

missing=$("$py" - <<'EOF'
import importlib.util
need = ["torch", "transformers", "trl", "accelerate", "datasets", "pydantic", "yaml", "pandas", "pyarrow"]
print(" ".join(n for n in need if importlib.util.find_spec(n) is None))
EOF
)
if [ -n "$missing" ]; then
    echo "gpu_check.sh: $py lacks: $missing (make install, or pip install -e '.[train]')" >&2
    exit 2
fi

if [ "$dry_run" -eq 1 ]; then
    exec nice "$py" bench/gpu_bench.py --dry-run --batch 4
fi

if ! "$py" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "gpu_check.sh: no CUDA GPU visible to $py (torch $("$py" -c 'import torch; print(torch.__version__)')); use --dry-run on a CPU" >&2
    exit 2
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

out=${GPU_CHECK_OUT:-docs/benchmarks.md}
"$py" bench/gpu_bench.py --steps "${STEPS:-20}" --batch "${BATCH:-8}" --processes "${PROCESSES:-1}" \
    --write "$out" --json "${GPU_CHECK_JSON:-/tmp/gpu_check.json}"
echo "gpu_check.sh: wrote the \"GPU check\" section of $out"
