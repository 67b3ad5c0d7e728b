#!/bin/bash
# The one device call of docs/gpu.md, packed into .device-carry/ by build.sh:
#   source .device-carry/setup.sh && bash .device-carry/device-run.sh [more bench.mjs flags]
# Runs, each under its own timeout so a hang still leaves time for the rest:
#   1. tc-bench.mjs      the tensor-core ceiling from plain WGSL (../shared/device)
#   2. int8-kernels.mjs  every @conifer/int8 webgpu kernel checked and timed alone at Flan-UL2's shapes
#   3. lora-kernels.mjs  the LoRA adapter kernels alone, both layouts (packages/lora/bench/webgpu-kernels.ts)
#   4. bench.mjs         LoRA training steps of a Flan-UL2 slice, then PyTorch + PEFT on the same batches
# The call returns only the last 12,000 characters of its output, so every script's WHOLE output goes to
# $OUT/<script>.log (files under $OUT come back even when the call times out) and the console gets the
# summaries, the training bench last. Exit status: the training bench's (1 when its check fails).
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${OUT:-/tmp/conifer-device-out}
mkdir -p "$out"
# Dawn's notice about dynamic buffer limits, printed once per device: noise.
quiet() { grep -v '^Warning: maxDynamic' || true; }
stamp() { echo "== $1 ($(date -u +%H:%M:%S), timeout $2 s; whole output: $out/$1.log)"; }

# One kernel script: its whole output to $out/<name>.log, the last `lines` lines that `keep` (a grep -v
# pattern) lets through on the console.
kernels() {
  local name=$1 limit=$2 keep=$3 lines=$4
  stamp "$name" "$limit"
  timeout -k 10 "$limit" node "$here/$name.mjs" 2>&1 | quiet > "$out/$name.log"
  echo "exit ${PIPESTATUS[0]}"
  grep -v "$keep" "$out/$name.log" | cut -c1-240 | tail -"$lines"
}
kernels tc-bench "${T_TC:-80}" '^{"adapter"' 24
kernels int8-kernels "${T_K:-150}" '^{' 44
kernels lora-kernels "${T_L:-30}" '^\[\|^====\|^Hi, looks like' 18

# The bench gets what is left before DEADLINE (seconds since this script started; the call's timeout_s
# 590 less setup.sh), at most T_B, and --budget-s 25 s less: it skips what would not fit (the rest of a
# pass, later passes, the profile step; the gradient check keeps its time) and prints its table in time.
tb=${T_B:-300}
left=$(( ${DEADLINE:-565} - SECONDS ))
(( left < tb )) && tb=$left
(( tb < 30 )) && tb=30
stamp bench "$tb"
timeout -k 10 "$tb" node "$here/bench.mjs" --with-pytorch --layers 4 --steps 4 --passes 2 --budget-s $(( tb - 25 )) "$@" 2>&1 | quiet | tee "$out/bench.log"
rc=${PIPESTATUS[0]}
echo "exit $rc"
exit "$rc"
