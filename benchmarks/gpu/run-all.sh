#!/usr/bin/env bash
# Run ON the accelerator machine, from the repo root, after `bash benchmarks/gpu/prepare.sh` here:
#   run --carry .device --carry .gl 'bash benchmarks/gpu/run-all.sh'
# It checks the platform, runs every GPU-only check (tensor-core variants, 7B shapes, parity against
# PyTorch/transformers) and every benchmark beside its PyTorch twin, and writes JSON + markdown to $OUT.
set -uo pipefail
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
log() { printf '[run-all %s] %s\n' "$(date +%T)" "$*" | tee -a "$OUT/run-all.log"; }

for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
xz -dc .device/node.xz > /usr/local/bin/node && chmod +x /usr/local/bin/node
B=.device/bundle

log "platform"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/nvidia-smi.csv" 2>&1
python3 -c "import torch, transformers; print(torch.__version__, transformers.__version__)" > "$OUT/python.txt" 2>&1
node $B/device-main.mjs doctor --json > "$OUT/doctor.json" 2> "$OUT/doctor.err" || log "doctor failed"

log "GPU-only checks (kernel variants incl. subgroup matrices, 7B shapes)"
node $B/device-main.mjs checks --json "$OUT/checks.json" 2>&1 | tee "$OUT/checks.log"

log "parity against transformers (tiny checkpoints and stories260K)"
python3 packages/llama/test/transformers_parity.py --out "$OUT/transformers-hidden" > "$OUT/parity-py.log" 2>&1 \
  && node $B/device-main.mjs parity --dir "$OUT/transformers-hidden" --json "$OUT/parity.json" 2>&1 | tee "$OUT/parity.log"

log "benchmarks (WGSL) and their PyTorch twins"
node $B/device-main.mjs bench --json "$OUT/bench-webgpu.json" 2>&1 | tee "$OUT/bench-webgpu.log"
python3 benchmarks/gpu/torch_bench.py --json "$OUT/bench-torch.json" 2>&1 | tee "$OUT/bench-torch.log"
node $B/device-main.mjs report --webgpu "$OUT/bench-webgpu.json" --torch "$OUT/bench-torch.json" \
  --checks "$OUT/checks.json" --out "$OUT/RESULTS.md" 2>&1 | tee -a "$OUT/run-all.log"
log "done; results in $OUT"
