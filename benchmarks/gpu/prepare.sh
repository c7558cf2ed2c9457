#!/usr/bin/env bash
# Run HERE (no GPU needed), from anywhere, before borrowing the accelerator machine:
#   bash benchmarks/gpu/prepare.sh
# It builds everything run-all.sh needs into .device/ and .gl/ at the repo root (both git-ignored; carry
# them: run --carry .device --carry .gl 'bash benchmarks/gpu/run-all.sh'). The machine there has no
# package registry and no Node, so we ship: Node itself (xz), one esbuild bundle of device-main.ts, only
# Dawn's linux-x64 binary from the `webgpu` package (all platforms together are 132 MB), and the glvnd
# libraries without which the NVIDIA Vulkan ICD does not load. Carried files are capped at 64 MiB (with
# the working tree): the script fails if .device + .gl + the working tree exceed that.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
say() { printf '[prepare] %s\n' "$*"; }

mkdir -p .gl .device/bundle/node_modules
if ! ls .gl/*.deb >/dev/null 2>&1; then
  say "downloading the Vulkan loader and glvnd libraries (.deb) into .gl/"
  libs=(libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
  if ! (cd .gl && apt-get download "${libs[@]}"); then
    say "apt-get download failed; updating the package lists once and retrying"
    apt-get update -q
    (cd .gl && apt-get download "${libs[@]}")
  fi
fi

node_bin=$(command -v node)
if [ ! -f .device/node.xz ] || [ "$(cat .device/node.version 2>/dev/null)" != "$(node --version)" ]; then
  say "compressing $node_bin ($(node --version)) into .device/node.xz"
  xz -T2 -9 -c "$node_bin" > .device/node.xz
  node --version > .device/node.version
fi

say "bundling benchmarks/src/device-main.ts into .device/bundle/device-main.mjs"
node benchmarks/scripts/build-device-bundle.mjs

# webgpu: index.js, package.json and the linux-x64 dawn.node; its declared runtime dependency debug (+ ms).
wg=$(node -e "console.log(require('path').dirname(require.resolve('webgpu/package.json', {paths: ['$root/benchmarks', '$root/packages/gpu']})))")
dst=.device/bundle/node_modules/webgpu
rm -rf "$dst" && mkdir -p "$dst/dist/linux-x64"
cp "$wg/index.js" "$wg/package.json" "$dst/"
cp "$wg/dist/linux-x64/dawn.node" "$dst/dist/linux-x64/"
for dep in debug ms; do
  p=$(node -e "console.log(require('path').dirname(require.resolve('$dep/package.json', {paths: ['$wg']})))")
  rm -rf ".device/bundle/node_modules/$dep" && cp -r "$p" ".device/bundle/node_modules/$dep"
done

say "checking that the bundle loads Dawn from .device/bundle (plan needs no GPU)"
node .device/bundle/device-main.mjs plan --json .device/plan-check.json >/dev/null 2>&1 \
  || { node .device/bundle/device-main.mjs plan --json .device/plan-check.json; exit 1; }
rm -f .device/plan-check.json

carried=$(du -sb .device .gl | awk '{s += $1} END {print s}')
tree=$(git ls-files -co --exclude-standard -z | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
total=$((carried + tree))
limit=$((64 * 1024 * 1024))
du -sh .device .gl
say "carried: .device + .gl = $((carried / 1048576)) MiB, working tree $((tree / 1048576)) MiB, total $((total / 1048576)) MiB (limit 64 MiB)"
if [ "$total" -gt "$limit" ]; then
  say "ERROR: more than 64 MiB would travel; remove large untracked files or shrink .device"
  exit 1
fi
say "ready: run --carry .device --carry .gl 'bash benchmarks/gpu/run-all.sh'"
