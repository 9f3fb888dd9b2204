#!/usr/bin/env bash
# The backbone on CUDA: faces/s of the backbone stage with the service defaults, and its ratio to a
# bare onnxruntime session.run loop on the same model and batch (bench/backbone.bench.ts with
# BENCH_DEVICE=cuda, synthetic EMO-AffectNet ResNet50). Results: bench/results/backbone-cuda.json.
# Then, in a checkout, the same ResNet50 as float32, float16 and int8 (bare loops) and the JPEG-decode
# ceiling of this machine's CPU (bench/backbone-variants.bench.ts; results:
# bench/results/backbone-variants-cuda.json). Making the float16 and int8 models needs Python 3 with
# venv and PyPI once (.cache/quantize-venv); the int8 pack is calibrated on the shipped test media.
#
#   bash scripts/gpu-check.sh                 in an installed checkout on a GPU node whose onnxruntime-node
#                                             has its CUDA provider (ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci, or
#                                             libonnxruntime_providers_{cuda,shared}.so from the onnxruntime-gpu
#                                             wheel of the same version placed next to its libonnxruntime.so.1)
#   bash scripts/gpu-check.sh DIR [DIR…]      on a bare GPU machine with no npm: the folders hold what
#                                             scripts/gpu-bundle.sh made (node, the bundled benchmark, the few
#                                             node_modules it needs, the CUDA provider in parts)
#
# It fails when there is no NVIDIA GPU (nvidia-smi missing or failing) and when the CUDA provider does
# not load: the benchmarks refuse to measure the CPU fallback. The bundle has no Python and no
# quantizer, so bundle mode measures float32 only, and then fails unless GPU_CHECK_FP32_ONLY=1 says
# that is what was wanted.
set -euo pipefail
cd "$(dirname "$0")/.."

# CUDA libraries: the system's, plus those of Python's nvidia-* wheels when the machine has them (PyTorch images do).
nvidia_libs=$(python3 - <<'PY' 2>/dev/null || true
import glob, os
try:
    import nvidia
    print(':'.join(sorted({os.path.dirname(p) for d in nvidia.__path__ for p in glob.glob(os.path.join(d, '*', 'lib', '*.so*'))})))
except Exception:
    pass
PY
)
export LD_LIBRARY_PATH="${nvidia_libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if ! command -v nvidia-smi >/dev/null; then
  echo "gpu-check: no NVIDIA GPU here (nvidia-smi not found); run it on a GPU node" >&2
  exit 1
fi
if ! gpus=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1); then
  echo "gpu-check: nvidia-smi failed, so no usable GPU: $gpus" >&2
  exit 1
fi
echo "$gpus"

if [ $# -eq 0 ]; then
  BENCH_DEVICE=cuda node --import tsx bench/backbone.bench.ts
  BENCH_DEVICE=cuda node --import tsx bench/backbone-variants.bench.ts
  exit
fi

# Bundle mode: unpack node, the node_modules subset and the CUDA provider, then run the bundled benchmark.
# A bare machine may lack zstd: the bundle carries one (tools/).
if ! command -v zstd >/dev/null; then
  for dir in "$@"; do [ -x "$dir/tools/zstd" ] && export PATH="$PWD/$dir/tools:$PATH" LD_LIBRARY_PATH="$PWD/$dir/tools:$LD_LIBRARY_PATH"; done
fi
work=${GPU_CHECK_WORK:-/tmp/emostream-gpu-check}
rm -rf "$work" && mkdir -p "$work/bin"
parts=()
for dir in "$@"; do
  for f in "$dir"/cuda.zst.*; do [ -e "$f" ] && parts+=("$f"); done
  [ -e "$dir/node.zst" ] && zstd -q -d "$dir/node.zst" -o "$work/bin/node" && chmod +x "$work/bin/node"
  [ -e "$dir/nm.tar.zst" ] && zstd -q -d -c "$dir/nm.tar.zst" | tar xf - -C "$work"
  [ -e "$dir/bench.mjs.zst" ] && zstd -q -d "$dir/bench.mjs.zst" -o "$work/bench.mjs"
  [ -e "$dir/libonnxruntime_providers_shared.so" ] && shared_lib="$dir/libonnxruntime_providers_shared.so"
done
[ -x "$work/bin/node" ] && [ -e "$work/bench.mjs" ] && [ -d "$work/node_modules" ] || { echo "gpu-check: the bundle is incomplete (node, bench.mjs, node_modules)"; exit 1; }
[ ${#parts[@]} -gt 0 ] && [ -n "${shared_lib:-}" ] || { echo "gpu-check: the CUDA provider parts are missing"; exit 1; }
ort_dir=$(dirname "$(find "$work/node_modules/onnxruntime-node/bin" -name libonnxruntime.so.1 | head -1)")
# The provider travels in numbered parts (cuda.zst.0, .1, …), possibly in different folders: join them in order.
sorted=()
for ((i = 0; i < ${#parts[@]}; i++)); do
  for f in "${parts[@]}"; do [ "${f##*.}" = "$i" ] && sorted+=("$f"); done
done
[ ${#sorted[@]} -eq ${#parts[@]} ] || { echo "gpu-check: the CUDA provider parts are not numbered 0..$((${#parts[@]} - 1))"; exit 1; }
cat "${sorted[@]}" | zstd -q -d -o "$ort_dir/libonnxruntime_providers_cuda.so"
cp "$shared_lib" "$ort_dir/"
# GPU_CHECK_WHEEL_ORT=1: use the wheel's own libonnxruntime (same version) instead of the npm package's.
for dir in "$@"; do
  if [ "${GPU_CHECK_WHEEL_ORT:-0}" = 1 ] && [ -e "$dir/libort-wheel.so.zst" ]; then zstd -q -d -f "$dir/libort-wheel.so.zst" -o "$ort_dir/libonnxruntime.so.1"; fi
done
ls -la "$ort_dir"
mkdir -p "$work/.gpu"
cp "$work/bench.mjs" "$work/.gpu/bench.mjs"
# Imported rather than run as the main script: bundled CLI modules check argv[1] to decide whether to run.
(cd "$work" && BENCH_DEVICE=cuda BENCH_SYNTHETIC_PACK="$work/synthetic" "$work/bin/node" ${GPU_CHECK_NODE_FLAGS:-} --input-type=module -e "await import('./.gpu/bench.mjs')")
out=${GPU_CHECK_OUT:-bench/results}
mkdir -p "$out" && cp "$work"/bench/results/backbone-cuda.json "$out"/
cat "$out"/backbone-cuda.json
if [ "${GPU_CHECK_FP32_ONLY:-0}" != 1 ]; then
  echo "gpu-check: bundle mode measured the float32 backbone only; the int8/fp16 backbones and the JPEG-decode ceiling need a checkout (bash scripts/gpu-check.sh with no folder: Python makes those models). Set GPU_CHECK_FP32_ONLY=1 to accept float32 only." >&2
  exit 1
fi
