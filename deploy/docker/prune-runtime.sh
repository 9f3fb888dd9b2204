#!/bin/sh
# Run by the Dockerfiles' build stage after `npm prune --omit=dev`, in /app: removes from what the
# runtime image copies everything the stages never load, and says what each removal is. The image
# build then checks that `emo` still starts and loads the default pack (deploy/docker/Dockerfile).
set -eu

# onnxruntime-node ships macOS, Windows and Linux arm64 binaries beside this platform's (~250 MB).
ort=node_modules/onnxruntime-node/bin/napi-v6
keep="linux/$(node -p process.arch)"
find "$ort" -mindepth 2 -maxdepth 2 -type d ! -path "$ort/$keep" -exec rm -rf {} +
test -f "$ort/$keep/onnxruntime_binding.node"

# The weights the default pack is built from (@vladmandic/face-api and human, ~66 MB): the pack is
# already built in /app/models. Building packs from them (`npm run models`) is a development job.
rm -rf node_modules/@vladmandic
# h5wasm (~15 MB), read only by `emo models import` of the authors' Keras .h5 files: importing a pack is
# a development job too (the PyTorch .pt import needs nothing extra and still works here); the import
# says so if asked in the image.
rm -rf node_modules/h5wasm
# sharp's WebAssembly fallback (the native linux binary is there) and the TypeScript runner: the
# image runs the compiled JS (cli/bin/emo.mjs uses tsx only when sources changed after the build,
# which a read-only image cannot see).
rm -rf node_modules/@img/sharp-wasm32 node_modules/tsx node_modules/esbuild node_modules/@esbuild
# Source maps, type declarations, coverage reports and the protobufjs 6 command line (pbjs, with its
# own dependencies) that onnx-proto carries: read by debuggers, compilers and code generators only.
find node_modules \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \) -type f -delete
find node_modules -type d \( -name coverage -o -path '*/protobufjs/cli' \) -prune -exec rm -rf {} +
# Tests, their media, benchmarks and TypeScript build info: the image runs the compiled services.
rm -rf test/media bench docs libs/*/test services/*/test cli/test
find . -name '*.tsbuildinfo' -delete
