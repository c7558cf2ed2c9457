#!/usr/bin/env bash
# Run HERE (no GPU needed) before borrowing the accelerator machine: builds everything run-all.sh needs
# into .device/ and .gl/ (both git-ignored, both carried with `run --carry .device --carry .gl`).
# Budget: carry is capped at 64 MiB, so we ship node (xz), one esbuild bundle, and only Dawn's
# linux-x64 binary from the `webgpu` package.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
mkdir -p .gl .device/bundle/node_modules
if ! ls .gl/*.deb >/dev/null 2>&1; then
  (cd .gl && apt-get download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
[ -f .device/node.xz ] || xz -T2 -c "$(command -v node)" > .device/node.xz
node benchmarks/scripts/build-device-bundle.mjs
# webgpu: index.js, package.json, the linux-x64 dawn.node, and its runtime dependency debug (+ ms).
wg=$(node -e "console.log(require('path').dirname(require.resolve('webgpu/package.json', {paths: ['$root/packages/gpu']})))")
dst=.device/bundle/node_modules/webgpu
rm -rf "$dst" && mkdir -p "$dst/dist/linux-x64"
cp "$wg/index.js" "$wg/package.json" "$dst/"
cp "$wg/dist/linux-x64/dawn.node" "$dst/dist/linux-x64/"
[ -f "$wg/dist/index.js" ] && cp "$wg/dist/index.js" "$dst/dist/" || true
for dep in debug ms; do
  p=$(node -e "console.log(require('path').dirname(require.resolve('$dep/package.json', {paths: ['$wg']})))")
  rm -rf ".device/bundle/node_modules/$dep" && cp -r "$p" ".device/bundle/node_modules/$dep"
done
du -sh .device .gl
