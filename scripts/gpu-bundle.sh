#!/usr/bin/env bash
# Makes what `scripts/gpu-check.sh DIR…` needs on a bare GPU machine with no npm and no network: node,
# the backbone benchmark bundled into one file, the few node_modules it loads (onnxruntime-node for
# linux-x64, sharp), zstd, and the CUDA provider of the onnxruntime-gpu wheel of onnxruntime-node's
# version (from PyPI), split into parts of at most 58 MiB so each fits a 64 MiB transfer.
#   bash scripts/gpu-bundle.sh OUT_DIR      → OUT_DIR/part0 … part3
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/gpu-bundle.sh OUT_DIR}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"/part{0,1,2,3}
version=$(node -p "require('onnxruntime-node/package.json').version")

# The CUDA provider: the onnxruntime-gpu wheel of the same version (built for CUDA 13 from 1.30 on).
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux_2_28_x86_64 -d "$tmp" "onnxruntime-gpu==$version"
(cd "$tmp" && unzip -q -o ./*.whl 'onnxruntime/capi/libonnxruntime_providers_*')
zstd -q -T0 -9 "$tmp/onnxruntime/capi/libonnxruntime_providers_cuda.so" -o "$tmp/cuda.zst"
split -b 58m -d -a 1 "$tmp/cuda.zst" "$tmp/cuda.zst."
n=0
for part in "$tmp"/cuda.zst.[0-9]; do cp "$part" "$out/part$n/"; n=$((n + 1)); done
last="$out/part3"
cp "$tmp/onnxruntime/capi/libonnxruntime_providers_shared.so" "$last/"

# node, zstd (a bare machine may lack it) and the bundled benchmark.
zstd -q -T0 -19 "$(command -v node)" -o "$last/node.zst"
mkdir -p "$last/tools" && cp "$(command -v zstd)" "$last/tools/"
for lib in $(ldd "$(command -v zstd)" | awk '/=>/{print $3}' | grep -v -E 'libc\.so|libm\.so|libpthread|ld-linux'); do cp -L "$lib" "$last/tools/"; done
node_modules/.bin/esbuild bench/backbone.bench.ts --bundle --platform=node --format=esm --target=node20 \
  --external:onnxruntime-node --external:sharp --outfile="$tmp/bench.mjs" --log-level=warning \
  --banner:js="import { createRequire as __cr } from 'module'; const require = __cr(import.meta.url);"
zstd -q -19 "$tmp/bench.mjs" -o "$last/bench.mjs.zst"

# node_modules: onnxruntime-node (linux-x64 binaries only) and sharp with its linux-x64 libvips.
mkdir -p "$tmp/nm/node_modules/@img"
cp -a node_modules/{onnxruntime-node,onnxruntime-common,sharp,detect-libc,semver} "$tmp/nm/node_modules/"
cp -a node_modules/@img/{sharp-linux-x64,sharp-libvips-linux-x64,colour} "$tmp/nm/node_modules/@img/"
find "$tmp/nm/node_modules/onnxruntime-node/bin" -mindepth 2 -maxdepth 3 -type d \( -name darwin -o -name win32 -o -name arm64 \) -prune -exec rm -rf {} +
tar cf - -C "$tmp/nm" node_modules | zstd -q -T0 -19 -o "$last/nm.tar.zst"
du -sh "$out"/part*
