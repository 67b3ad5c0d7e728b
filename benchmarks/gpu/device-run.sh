#!/bin/bash
# The one device call of docs/gpu.md, packed into .device-carry/ by build.sh:
#   source .device-carry/setup.sh && bash .device-carry/device-run.sh [more bench.mjs flags]
# First records the machine (card, driver, OS, Node, Vulkan ICD, the WebGPU adapter and its features)
# in $OUT/env.log, then runs, each under its own timeout so a hang still leaves time for the rest:
#   1. tc-bench.mjs      the tensor-core ceiling from plain WGSL (../shared/device)
#   2. int8-kernels.mjs  every @conifer/int8 webgpu kernel checked and timed alone at Flan-UL2's shapes
#   3. lora-kernels.mjs  the LoRA adapter kernels alone, both layouts (packages/lora/bench/webgpu-kernels.ts)
#   4. bench.mjs         PyTorch + PEFT on the same batches first, then LoRA training steps of a Flan-UL2 slice
# The call returns only the last 12,000 characters of its output, so every script's WHOLE output goes to
# $OUT/<script>.log (files under $OUT come back even when the call times out; at most 8 files: env.log, the
# four logs and gpu-bench/{config,plan,result}.json — write nothing else there) and the console gets the
# summaries, the training bench last, then one summary line. Exit status: the training bench's (1 when its
# check fails). No `set -e`: one script failing must not stop the others.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${OUT:-/tmp/conifer-device-out}
mkdir -p "$out"
# Dawn's notice about dynamic buffer limits, printed once per device: noise. Line-buffered, so the logs and
# the console keep up with the scripts (a kill of the whole call loses nothing that was printed).
quiet() { grep --line-buffered -v '^Warning: maxDynamic' || true; }
stamp() { echo "== $1 ($(date -u +%H:%M:%S), timeout $2 s; whole output: $out/$1.log)"; }
# A file over 16 MiB does not come back at all: keep its first and last 7 MB.
trim() {
  local f=$1
  [ "$(stat -c %s "$f" 2>/dev/null || echo 0)" -gt 15000000 ] || return 0
  { head -c 7000000 "$f"; printf '\n[... %s trimmed to its first and last 7 MB ...]\n' "$f"; tail -c 7000000 "$f"; } > "$f.tmp" && mv "$f.tmp" "$f"
}

# ---- setup.sh's work, checked: without xz it leaves an empty node / dawn.node; Python's lzma unpacks them then.
dawn="$here/node_modules/webgpu/dist/linux-x64/dawn.node"
command -v node >/dev/null 2>&1 || [ ! -f "$here/setup.sh" ] || source "$here/setup.sh"
if ! node -e 0 >/dev/null 2>&1 || [ ! -s "$dawn" ]; then
  echo "device-run: node or dawn.node missing after setup.sh (no xz?): unpacking them with python3's lzma"
  python3 - "$here" "$dawn" <<'PY'
import lzma, os, shutil, sys
here, dawn = sys.argv[1], sys.argv[2]
for src, dst in ((here + "/node.xz", "/tmp/dev-node/node"), (here + "/dawn.node.xz", dawn)):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with lzma.open(src) as i, open(dst, "wb") as o:
        shutil.copyfileobj(i, o)
os.chmod("/tmp/dev-node/node", 0o755)
PY
  export PATH=/tmp/dev-node:$PATH
fi

# ---- the machine, before anything runs (the console's 12,000-character tail will not reach back here).
card=$(timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -1)
{
  echo "date: $(date -u +%FT%TZ); kernel: $(uname -srm); os: $(. /etc/os-release 2>/dev/null; echo "${PRETTY_NAME:-?}"); $(ldd --version 2>/dev/null | head -1)"
  echo "cpus: $(nproc); memory: $(free -g 2>/dev/null | awk '/^Mem:/ {print $2 " GiB"}')"
  echo "nvidia-smi: $card"
  timeout 20 nvidia-smi 2>&1 | head -20
  echo "node: $(command -v node) $(node -v 2>&1); python3: $(command -v python3)"
  ldd "$(command -v node)" "$dawn" 2>&1 | grep -i 'not found' || echo "ldd: node and dawn.node find all their libraries"
  echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-unset}; LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-unset}"
  ls -l /usr/local/nvidia/share/vulkan/icd.d /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>&1
  ldconfig -p | grep -E 'libvulkan\.so|libGLX_nvidia|libnvidia-glcore' | head
} > "$out/env.log" 2>&1
# The WebGPU adapter with the bench's Dawn toggles: name, features, subgroup-matrix configs, limits.
probe() {
  timeout -k 5 40 node --input-type=module -e "
    import { create, globals } from '$here/node_modules/webgpu/index.js';
    Object.assign(globalThis, globals);
    const gpu = create(['enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia']);
    const a = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!a) { console.log('webgpu: NO ADAPTER'); process.exit(3); }
    const i = a.info, l = a.limits;
    const sm = i.subgroupMatrixConfigs ? Array.from(i.subgroupMatrixConfigs, (c) => c.componentType + '>' + c.resultComponentType + ' ' + c.M + 'x' + c.N + 'x' + c.K) : [];
    const want = ['shader-f16', 'subgroups', 'chromium-experimental-subgroup-matrix', 'timestamp-query'];
    console.log('webgpu adapter: ' + [i.vendor, i.architecture, i.device, i.description].join(' | ') +
      '; ' + want.map((f) => f + (a.features.has(f) ? ' yes' : ' NO')).join(', ') +
      '; subgroup matrix configs: ' + (sm.join(', ') || 'none') + '; subgroups ' + i.subgroupMinSize + '..' + i.subgroupMaxSize +
      '; maxBufferSize ' + l.maxBufferSize + ', maxStorageBufferBindingSize ' + l.maxStorageBufferBindingSize + ', maxComputeWorkgroupStorageSize ' + l.maxComputeWorkgroupStorageSize +
      '; all features: ' + [...a.features].sort().join(', '));
    process.exit(0);" 2>&1
}
adapter=$(probe); prc=$?
echo "$adapter" >> "$out/env.log"
if [ $prc -ne 0 ]; then
  echo "adapter probe failed (exit $prc); the Vulkan loader's messages:" >> "$out/env.log"
  VK_LOADER_DEBUG=error,warn,driver probe 2>&1 | head -c 200000 >> "$out/env.log"
fi
echo "== machine: $card; $(echo "$adapter" | grep -m1 'webgpu' | sed 's/; all features:.*//' | cut -c1-700) (more in $out/env.log)"

# One kernel script: its whole output to $out/<name>.log, the last `lines` lines that `keep` (a grep -v
# pattern) lets through on the console.
exits=()
kernels() {
  local name=$1 limit=$2 keep=$3 lines=$4
  stamp "$name" "$limit"
  timeout -k 10 "$limit" node "$here/$name.mjs" 2>&1 | quiet > "$out/$name.log"
  local rc=${PIPESTATUS[0]}
  echo "exit $rc$( ((rc == 124 || rc == 137)) && echo ' (timed out)')"
  exits+=("$name $rc")
  trim "$out/$name.log"
  grep -v "$keep" "$out/$name.log" | cut -c1-240 | tail -"$lines"
}
kernels tc-bench "${T_TC:-80}" '^{"adapter"' 24
kernels int8-kernels "${T_K:-150}" '^{' 44
kernels lora-kernels "${T_L:-30}" '^\[\|^====\|^Hi, looks like' 18

# The bench gets what is left before DEADLINE (seconds since this script started; the call's timeout_s
# 590 less setup.sh and the 10 s kill grace), at most T_B, and --budget-s 25 s less: it skips what would
# not fit (the rest of a pass, later passes, the profile step; the gradient check keeps its time), gives
# the PyTorch reference at most ≈ 45 % of it, and prints its table in time.
tb=${T_B:-300}
left=$(( ${DEADLINE:-555} - SECONDS ))
(( left < tb )) && tb=$left
(( tb < 30 )) && tb=30
stamp bench "$tb"
timeout -k 10 "$tb" node "$here/bench.mjs" --with-pytorch --layers 4 --steps 4 --passes 2 --budget-s $(( tb - 25 )) "$@" 2>&1 | quiet | tee "$out/bench.log"
rc=${PIPESTATUS[0]}
echo "exit $rc$( ((rc == 124 || rc == 137)) && echo ' (timed out)')"
exits+=("bench $rc")
trim "$out/bench.log"
echo "== summary ($(date -u +%H:%M:%S), ${SECONDS} s): $card; exits: ${exits[*]}; files: $(cd "$out" && find . -type f | sort | tr '\n' ' ')"
exit "$rc"
