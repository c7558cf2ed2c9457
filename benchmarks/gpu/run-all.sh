#!/usr/bin/env bash
# Run ON the accelerator machine, from the repo root, after `bash benchmarks/gpu/prepare.sh` here:
#   run --carry .device --carry .gl 'bash benchmarks/gpu/run-all.sh'
# A session gets about 15 minutes of device time in all, machine start included, so the default is
# one call of at most RUN_ALL_BUDGET_S (570 s): the kernel and model suites on their --quick shapes, the
# stages in order of what they decide, each capped so the later ones still run. A stage that would not
# fit in what is left is skipped with a log line naming the call that runs it; with time to spare:
#   run --carry .device --carry .gl 'bash benchmarks/gpu/run-all.sh search torch-search'   (for example)
#   run --carry .device --carry .gl 'RUN_ALL_SIZE=full bash benchmarks/gpu/run-all.sh kernels torch-kernels'
#   run --carry .device --carry .gl 'bash benchmarks/gpu/run-all.sh index-choice'
# then one combined report here (see benchmarks/RESULTS.md).
#
# Stages (default: checks parity kernels torch-kernels peers model torch-model search torch-search model7b,
# then report; model7b comes last and is skipped when less than its minimum is left, so it usually
# needs its own call: 'bash benchmarks/gpu/run-all.sh model7b'):
#   platform      nvidia-smi, python/torch/transformers versions, `device-main doctor`   (always runs)
#   checks        GPU-only correctness checks: every matmul variant and subgroup-matrix tile at 7B
#                 shapes, attention hd 128 / T 2048, f16 vs f32 model path, training with each tensor-core
#                 option (f16 attention, f16 input gradients) vs f32 (hidden states and every LoRA gradient)
#   parity        transformers_parity.py (HF transformers, float32) then our GPU forward on the same inputs
#   kernels       WGSL kernel benchmarks            torch-kernels   their PyTorch twins (same plan)
#   peers         the kernels shared with TensorFlow.js's WebGPU backend (matmul, attention, RMSNorm,
#                 top-k), ours then it on the same Dawn device, checked, then timed (bench-peers.json)
#   model         7B-shaped embed + LoRA pretext training     torch-model   transformers/PEFT twins
#   search        GPU exact search, 1M x 4096       torch-search    torch_search_bench.py
#   model7b       a LLaMA-2-7B-shaped random f16 folder written to a temp folder (deleted after; never in
#                 $OUT), RUN_ALL_7B_LAYERS layers (default 8 of 32; 32 is the full model, 13.5 GB), then:
#                 torch_7b_reference.py (plain torch f32 hidden states of fixed rows with the weights put
#                 through each format's quantize -> dequantize), `device-main bench-folder` (the folder
#                 loaded as f16, q8, q4, nf4; each checked against that reference by min row cosine
#                 before timing embedding at B32 x T256, and one QLoRA step with the nf4 base, LoRA r64,
#                 B8 x T512, with device memory), and the PyTorch twins (torch f16 embedding, PEFT bf16
#                 LoRA step on the same shape; no bitsandbytes offline, so every base's twin is f16/bf16).
#                 Expected on the H200 at 8 layers (estimates, not yet run there): about 4-6 min (writing
#                 the folder ~1 min on one JS thread, the reference ~1 min, each load ~10-20 s with the
#                 quantizing spread over the 16 cores, timing ~2 min, twins ~1 min); 32 layers about
#                 doubles it (writing and reading 13.5 GB). Capped at MAX[model7b] (540 s): bench-folder
#                 skips formats that no longer fit, so a cut run keeps the formats already measured.
#                 RUN_ALL_7B=0 skips it.
#   index-choice  FlatIndex / GpuFlatIndex / IvfIndex (GPU k-means) on 1M x 768: build, queries/s, recall@10
#                 (index-choice.json/.md; LanceDB and PGlite are not in the bundle: reported as not measured)
#   report        RESULTS.md from whatever JSON is in $OUT (also rewritten after every bench stage)
# RUN_ALL_SIZE=full runs the kernel and model suites on every 7B shape (several calls' worth).
#
# Outputs in $OUT (default benchmarks/out/run-all, git-ignored): *.json, *.log, RESULTS.md. No stage can
# abort the others: each runs under `timeout`. Without an NVIDIA driver (this repo's CPU machines) it
# skips the driver setup, uses the node in PATH and runs every stage in --smoke mode: that is how the
# script is tested.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/benchmarks/out/run-all}
mkdir -p "$OUT"
BUDGET=${RUN_ALL_BUDGET_S:-570}
PYTHON=${PYTHON:-python3}
B=.device/bundle
log() { printf '[run-all %s +%ss] %s\n' "$(date +%T)" "$SECONDS" "$*" | tee -a "$OUT/run-all.log" >&2; }

if [ -d /usr/local/nvidia ] || command -v nvidia-smi >/dev/null 2>&1; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
  icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  [ -f "$icd" ] && export VK_DRIVER_FILES=$icd
  if ! command -v node >/dev/null 2>&1 || [ "$(node --version 2>/dev/null)" != "$(cat .device/node.version 2>/dev/null)" ]; then
    xz -dc .device/node.xz > /usr/local/bin/node && chmod +x /usr/local/bin/node
  fi
  SMOKE=${SMOKE:-}
  case ${RUN_ALL_SIZE:-quick} in
    quick) SIZE=--quick ;;
    full) SIZE= ;;
    *) log "ERROR: RUN_ALL_SIZE must be quick or full, not '$RUN_ALL_SIZE'"; exit 1 ;;
  esac
else
  log "no NVIDIA driver here: using $(command -v node) and this machine's Vulkan, every stage in --smoke mode"
  SMOKE=${SMOKE:---smoke}
  SIZE=$SMOKE
  # A CPU machine's python3 may lack torch; the system one has it here.
  [ "$PYTHON" = python3 ] && ! python3 -c 'import torch' 2>/dev/null && [ -x /usr/bin/python3 ] && PYTHON=/usr/bin/python3
fi
[ -f "$B/device-main.mjs" ] || { log "ERROR: $B/device-main.mjs is missing: run bash benchmarks/gpu/prepare.sh first"; exit 1; }
DM="node $B/device-main.mjs"
export OUT PYTHON SMOKE SIZE DM

# Seconds a stage may take at most (its timeout) and needs at least to be worth starting.
# The caps add up to more than one call: a stage that ends early leaves its time to the next ones.
declare -A MAX=([checks]=120 [parity]=60 [kernels]=130 [torch-kernels]=60 [peers]=90 [model]=170 [torch-model]=100
  [search]=90 [torch-search]=60 [model7b]=540 [index-choice]=480 [report]=30)
declare -A MIN=([checks]=45 [parity]=20 [kernels]=60 [torch-kernels]=30 [peers]=30 [model]=100 [torch-model]=60
  [search]=45 [torch-search]=30 [model7b]=300 [index-choice]=240 [report]=5)
L7B=${RUN_ALL_7B_LAYERS:-8}
export L7B
declare -A STATUS=()

# run_stage NAME 'COMMAND': runs COMMAND (bash, may use the stage_* functions and $STAGE_TIMEOUT) under a
# timeout that fits the remaining budget; its output goes to $OUT/NAME.log.
run_stage() {
  local name=$1 cmd=$2
  local left=$((BUDGET - SECONDS - 10))
  if [ "$left" -lt "${MIN[$name]}" ]; then
    STATUS[$name]="skipped (out of time: run 'bash benchmarks/gpu/run-all.sh $name report' in another call)"
    log "$name: ${STATUS[$name]}"
    return
  fi
  local t=${MAX[$name]}
  [ "$t" -gt "$left" ] && t=$left
  log "$name: starting (timeout ${t}s)"
  STAGE_TIMEOUT=$t timeout --kill-after=10 "$t" bash -c "$cmd" >>"$OUT/$name.log" 2>&1
  local rc=$?
  case $rc in
    0) STATUS[$name]=ok ;;
    124 | 137) STATUS[$name]="timed out after ${t}s (partial JSON kept)" ;;
    *) STATUS[$name]="failed (exit $rc, see $name.log)" ;;
  esac
  log "$name: ${STATUS[$name]}"
}

stage_platform() {
  { nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || echo "no nvidia-smi"; } >"$OUT/nvidia-smi.csv"
  $PYTHON -c 'import torch, sys; print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.cuda.is_available())' >"$OUT/python.txt" 2>/dev/null || echo "torch not importable by $PYTHON" >"$OUT/python.txt"
  for m in transformers peft; do
    $PYTHON -c "import $m; print('$m', $m.__version__)" >>"$OUT/python.txt" 2>/dev/null || echo "$m not installed" >>"$OUT/python.txt"
  done
  if timeout 60 $DM doctor --json "$OUT/doctor.json" >"$OUT/doctor.log" 2>&1; then STATUS[platform]=ok; else STATUS[platform]="doctor failed (see doctor.log)"; fi
  log "platform: ${STATUS[platform]}; $(tr '\n' ' ' <"$OUT/python.txt")"
}

stage_parity() {
  local ref=transformers
  $PYTHON -c 'import transformers' 2>/dev/null || { ref=plain; echo "transformers missing: using the plain-torch reference"; }
  $PYTHON packages/llama/test/transformers_parity.py --out "$OUT/transformers-hidden" --reference "$ref" || echo "transformers_parity.py exited $?"
  ls "$OUT"/transformers-hidden/*.json >/dev/null 2>&1 || { echo "no reference hidden states were written"; return 1; }
  $DM parity --dir "$OUT/transformers-hidden" --json "$OUT/parity.json"
}

stage_torch() { # suite
  [ -f "$OUT/plan.json" ] || $DM plan --json "$OUT/plan.json" $SIZE || return 1
  $PYTHON benchmarks/gpu/torch_bench.py --plan "$OUT/plan.json" --suite "$1" --json "$OUT/torch-$1.json"
}

# The 7B-shaped folder lives in a temp folder of this machine only, removed however the stage ends.
stage_model7b() {
  local dir start=$SECONDS size=() ref=()
  dir=$(mktemp -d "${TMPDIR:-/tmp}/llara-7b.XXXXXX") || return 1
  # shellcheck disable=SC2064  # expanded now: $dir is local and gone when the trap runs
  trap "rm -rf '$dir'" EXIT
  # shellcheck disable=SC2064
  trap "rm -rf '$dir'; exit 143" TERM
  rm -f "$OUT/ref-7b.json"
  if [ -n "$SMOKE" ]; then size=(--smoke); else size=(--layers "$L7B"); fi
  $DM make-model --out "$dir/model" "${size[@]}" || return 1
  [ -n "$SMOKE" ] && size=(--smoke) || size=()
  $PYTHON benchmarks/gpu/torch_7b_reference.py --model "$dir/model" --out "$OUT/ref-7b.json" ||
    echo "torch_7b_reference.py exited $?: the rows will say they were not checked"
  [ -f "$OUT/ref-7b.json" ] && ref=(--ref "$OUT/ref-7b.json")
  # What is left of the stage, less about 90 s for the PyTorch twins.
  local left=$((STAGE_TIMEOUT - (SECONDS - start) - 90))
  [ "$left" -lt 30 ] && left=30
  $DM bench-folder --model "$dir/model" "${ref[@]}" --json "$OUT/bench-model7b.json" --budget-s "$left" "${size[@]}"
  $DM folder-plan --model "$dir/model" --json "$OUT/plan-7b.json" "${size[@]}" &&
    $PYTHON benchmarks/gpu/torch_bench.py --plan "$OUT/plan-7b.json" --suite model --json "$OUT/torch-model7b.json"
}

stage_report() {
  local webgpu torch
  webgpu=$(ls "$OUT"/bench-*.json 2>/dev/null | paste -sd, -)
  torch=$(ls "$OUT"/torch-kernels.json "$OUT"/torch-model.json "$OUT"/torch-search.json "$OUT"/torch-model7b.json 2>/dev/null | paste -sd, -)
  local args=(report --out "$OUT/RESULTS.md")
  [ -n "$webgpu" ] && args+=(--webgpu "$webgpu")
  [ -n "$torch" ] && args+=(--torch "$torch")
  [ -f "$OUT/checks.json" ] && args+=(--checks "$OUT/checks.json")
  [ -f "$OUT/parity.json" ] && args+=(--parity "$OUT/parity.json")
  [ "${#args[@]}" -gt 3 ] || { echo "nothing to report yet"; return 0; }
  $DM "${args[@]}"
}
export -f stage_parity stage_torch stage_model7b stage_report

stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(checks parity kernels torch-kernels peers model torch-model search torch-search model7b report)
stage_platform
for s in "${stages[@]}"; do
  case $s in
    platform | report) continue ;;
    checks) run_stage checks '$DM checks --json "$OUT/checks.json" $SMOKE' ;;
    parity) run_stage parity stage_parity ;;
    kernels) run_stage kernels '$DM bench --suite kernels --json "$OUT/bench-kernels.json" --budget-s $((STAGE_TIMEOUT - 20)) $SIZE' ;;
    peers) run_stage peers '$DM bench --suite peers --json "$OUT/bench-peers.json" --budget-s $((STAGE_TIMEOUT - 20)) $SIZE' ;;
    search) run_stage search '$DM bench --suite search --json "$OUT/bench-search.json" $SMOKE' ;;
    model) run_stage model '$DM bench --suite model --json "$OUT/bench-model.json" --budget-s $((STAGE_TIMEOUT - 20)) $SIZE' ;;
    torch-kernels) run_stage torch-kernels 'stage_torch kernels' ;;
    torch-model) run_stage torch-model 'stage_torch model' ;;
    torch-search) run_stage torch-search '$PYTHON benchmarks/gpu/torch_search_bench.py --json "$OUT/torch-search.json" $SMOKE' ;;
    model7b)
      if [ "${RUN_ALL_7B:-1}" = 0 ]; then STATUS[model7b]="skipped (RUN_ALL_7B=0)"; log "model7b: ${STATUS[model7b]}"; continue; fi
      run_stage model7b stage_model7b ;;
    index-choice) run_stage index-choice '$DM index-choice --json "$OUT/index-choice.json" --md "$OUT/index-choice.md" ${SMOKE:---full}' ;;
    *) log "unknown stage '$s' (skipped)"; continue ;;
  esac
  stage_report >>"$OUT/report.log" 2>&1
done
run_stage report stage_report
log "summary: $(for k in platform "${stages[@]}"; do printf '%s=%s; ' "$k" "${STATUS[$k]:-not run}"; done)"
log "done; results in $OUT (RESULTS.md, *.json, *.log)"
exit 0
