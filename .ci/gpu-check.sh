#!/usr/bin/env bash
# The GPU check, run on the GPU machine with the folder .ci/cuda-build.sh made
# (target/cuda/dist: outerloop.xz and gpt_throughput.xz built with `--features cuda`,
# this script, torch_reference.py). That machine has the driver and PyTorch with its CUDA
# libraries but no Rust, so nothing is built there.
#
#   bash target/cuda/dist/gpu-check.sh [STEPS]      # writes $OUT/gpu-check.log if OUT is set
#
# 1. finds cuBLAS, cuRAND, NVRTC and the CUDA runtime among PyTorch's wheels;
# 2. trains one default trial on the GPU and the same trial on the CPU (the scores
#    differ in the last digits: other summation order) and prints both;
# 3. trial throughput on the GPU: candle (reference ops, tensor AdamW) next to PyTorch
#    eager on the same GPU, configs A, B and C, in one run.
set -uo pipefail
DIST="$(cd "$(dirname "$0")" && pwd)"
STEPS="${1:-50}"
LOG="${OUT:-/tmp}/gpu-check.log"
exec > >(tee "$LOG") 2>&1

echo "== unpack the binaries"
BIN=/tmp/outerloop-cuda
mkdir -p "$BIN"
for b in outerloop gpt_throughput; do
  python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
    "$DIST/$b.xz" "$BIN/$b" && chmod +x "$BIN/$b"
done

echo "== machine"
nvidia-smi -L || echo "nvidia-smi failed"
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))'

echo "== CUDA libraries from PyTorch's wheels"
SITE="$(python3 -c 'import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))')"
LIBS=""
for so in libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libnvrtc.so.13 libcudart.so.13; do
  found="$(find "$SITE" -name "$so" 2>/dev/null | head -1)"
  if [ -z "$found" ]; then echo "missing $so under $SITE"; else echo "$found"; LIBS="$LIBS:$(dirname "$found")"; fi
done
export LD_LIBRARY_PATH="${LIBS#:}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
ldd "$BIN/outerloop" | grep -E 'not found|cuda|cublas|curand|nvrtc' || true

echo "== one trial on the GPU and on the CPU"
for device in cuda cpu; do
  time "$BIN/outerloop" trial --device "$device" --budget 20 --seed 0 || echo "trial on $device failed"
done

echo "== throughput: candle on the GPU, then PyTorch eager on the same GPU"
"$BIN/gpt_throughput" --device cuda --steps "$STEPS" || echo "candle bench failed"
python3 "$DIST/torch_reference.py" --device cuda --steps "$STEPS" || echo "torch reference failed"
echo "log: $LOG"
