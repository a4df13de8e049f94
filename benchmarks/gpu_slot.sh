#!/usr/bin/env bash
# One call of a GPU slot (run through the device tool with carry [".gpuwheels"]): install the
# wheels the GPU image lacks outside the checkout, then one part of the GPU suite, writing its
# rows under $OUT/gpu on top of the committed ones (parts and calls add up).
#   bash benchmarks/gpu_slot.sh speed       # ~4 min
#   bash benchmarks/gpu_slot.sh evidence    # ~8 min
set -euo pipefail
part=${1:?"which part: speed or evidence (or env, train)"}
shift
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpuwheels/*.whl >/dev/null 2>&1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
out=${OUT:-/tmp/out}/gpu
mkdir -p "$out"
cp -r benchmarks/results/gpu/. "$out"/
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python3 -m benchmarks.gpu_suite --parts "$part" --out "$out" "$@"
