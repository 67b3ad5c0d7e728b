#!/bin/bash
# Bundles benchmarks/gpu/bench.ts into ONE ESM file (every dependency inlined except 'webgpu'; the
# workspace packages from their src/, tfjs-core once, as ESM, with its gradient registrations), then
# fills .device-carry/ with ../shared/device/pack.sh.   Usage: benchmarks/gpu/build.sh [--no-pack]
set -euo pipefail
root=$(git rev-parse --show-toplevel); cd "$root"
esb=$(command -v esbuild || true)
[ -n "$esb" ] || esb=$(ls -d node_modules/.pnpm/esbuild@*/node_modules/esbuild/bin/esbuild 2>/dev/null | sort -V | tail -1 || true)
[ -x "$esb" ] || { echo "build.sh: no esbuild binary found under node_modules/.pnpm" >&2; exit 1; }
out=benchmarks/gpu/dist/bench.mjs
# Type-check first (strict, @conifer/* from src); esbuild only strips types. A failure is reported, not fatal,
# because packages may be mid-edit by others.
node_modules/.bin/tsc -p benchmarks/gpu/tsconfig.check.json || echo "build.sh: WARNING: type errors above (bundling anyway)" >&2
alias=()
for p in t5-model int8 lora dolly-data trainer safetensors generate dropout; do alias+=(--alias:@conifer/$p=./packages/$p/src/index.ts); done
# One ESM file per script: everything inlined but 'webgpu', tfjs-core once (as ESM), @conifer/* from src.
bundle() {
  "$esb" "$1" --bundle --platform=node --format=esm --target=node20 \
    --main-fields=module,main --external:webgpu "${alias[@]}" \
    --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" \
    --log-level=warning --outfile="$2"
  ls -la "$2"
}
bundle benchmarks/gpu/bench.ts $out
# The int8 kernel bench (each webgpu Int8MatMul kernel checked and timed alone, tensor cores included) and
# ../shared/device/tc-bench.mjs (the tensor-core ceiling from plain WGSL) travel in the same carry, so one
# device call can run all three (docs/gpu.md).
kout=benchmarks/gpu/dist/int8-kernels.mjs
bundle packages/int8/bench/webgpu-kernels.ts $kout
# The LoRA adapter kernels timed alone, both layouts (packages/lora/bench/webgpu-kernels.ts).
lout=benchmarks/gpu/dist/lora-kernels.mjs
bundle packages/lora/bench/webgpu-kernels.ts $lout
extra=($kout $lout benchmarks/gpu/device-run.sh)
tc=$root/../shared/device/tc-bench.mjs
[ -s "$tc" ] || tc=/work/shared/device/tc-bench.mjs
[ -s "$tc" ] && extra+=("$tc")
if [ "${1:-}" != "--no-pack" ]; then
  pack=${PACK:-$root/../shared/device/pack.sh}
  [ -x "$pack" ] || pack=/work/shared/device/pack.sh
  "$pack" $out "${extra[@]}"
  # A local `source .device-carry/setup.sh` leaves the unpacked dawn.node (21 MB) beside dawn.node.xz:
  # drop it so the carry stays ~30 MB (setup.sh unpacks it again on the GPU machine).
  [ -s .device-carry/dawn.node.xz ] && rm -f .device-carry/node_modules/webgpu/dist/linux-x64/dawn.node
  du -sh .device-carry
  tree=$(git ls-files -co --exclude-standard -z | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
  total=$(( (tree + $(du -sb .device-carry | cut -f1)) / 1048576 ))
  echo "working tree (tracked + untracked, not ignored): $tree bytes; with .device-carry $total MiB of the device call's 64 MiB"
  (( total < 62 )) || echo "build.sh: WARNING: $total MiB is at or over the 64 MiB limit: a call would be refused (untracked files? an unpacked dawn.node?)" >&2
fi
