#!/usr/bin/env bash
# Build outerloop with the `cuda` feature on a Linux x86-64 machine that has no GPU and
# no CUDA toolkit, for a GPU machine that has the driver and PyTorch's CUDA libraries
# but no Rust (the device machine: H200, driver 580 = CUDA 13.0, torch 2.11+cu130).
#
#   bash .ci/cuda-build.sh            # -> target/cuda/dist/outerloop (+ gpt_throughput)
#
# What it does, all under target/cuda/ (ignored by git, resumable: finished steps are
# skipped):
#   1. NVIDIA's own wheels from PyPI (pip works here; nothing else is downloaded):
#      nvcc, NVVM (cicc), the runtime and its headers, crt, cccl, nvrtc, cuBLAS, cuRAND, pinned to
#      CUDA_VERSION (13.0 by default: PTX from a newer nvcc is refused by a 13.0 driver).
#   2. One toolkit folder from them (CUDA 13's wheels all unpack into nvidia/cu13),
#      with the unversioned `.so` names the linker wants,
#      and a stub libcuda.so (soname libcuda.so.1) defining the driver API functions
#      cudarc declares: the real driver is only on the GPU machine, as with NVIDIA's own
#      stubs in lib64/stubs.
#   3. `cargo build --release --features cuda` with CUDA_COMPUTE_CAP (90 = Hopper) into
#      target/cuda/build, and puts the binaries, stripped and xz-compressed, with the
#      check script and the PyTorch reference into target/cuda/dist (~14 MB).
# Measured on a 2-core AMD EPYC VM: 12 min 20 s for a cold build (the wheels, ~300 MB,
# downloaded before).
# Carry target/cuda/dist to the GPU machine and run .ci/gpu-check.sh there.
set -euo pipefail
cd "$(dirname "$0")/.."
CUDA_VERSION="${CUDA_VERSION:-13.0}"
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
WORK="$PWD/target/cuda"
WHEELS="$WORK/wheels"
ROOT="$WORK/root"
mkdir -p "$WHEELS" "$ROOT"

step() { printf '\n== %s\n' "$*"; }

step "1. NVIDIA wheels for CUDA $CUDA_VERSION"
pip_download() { python3 -m pip download -q --no-deps --only-binary=:all: -d "$WHEELS" "$@"; }
[ -n "$(ls "$WHEELS"/nvidia_cuda_nvcc-* 2>/dev/null)" ] || pip_download "nvidia-cuda-nvcc==$CUDA_VERSION.*"
[ -n "$(ls "$WHEELS"/nvidia_cuda_runtime-* 2>/dev/null)" ] || pip_download "nvidia-cuda-runtime==$CUDA_VERSION.*"
[ -n "$(ls "$WHEELS"/nvidia_cuda_crt-* 2>/dev/null)" ] || pip_download "nvidia-cuda-crt==$CUDA_VERSION.*"
[ -n "$(ls "$WHEELS"/nvidia_nvvm-* 2>/dev/null)" ] || pip_download "nvidia-nvvm==$CUDA_VERSION.*"
[ -n "$(ls "$WHEELS"/nvidia_cuda_cccl-* 2>/dev/null)" ] || pip_download "nvidia-cuda-cccl==$CUDA_VERSION.*"
[ -n "$(ls "$WHEELS"/nvidia_cuda_nvrtc-* 2>/dev/null)" ] || pip_download "nvidia-cuda-nvrtc==$CUDA_VERSION.*"
[ -n "$(ls "$WHEELS"/nvidia_cublas-* 2>/dev/null)" ] || pip_download "nvidia-cublas==$CUDA_VERSION.*"
# cuRAND has its own version line: 10.4.0 shipped with CUDA 13.0.
[ -n "$(ls "$WHEELS"/nvidia_curand-* 2>/dev/null)" ] || pip_download "nvidia-curand==${CURAND_VERSION:-10.4.0}.*"

step "2. toolkit folder"
if [ ! -f "$ROOT/.unpacked" ]; then
  for w in "$WHEELS"/*.whl; do python3 -m zipfile -e "$w" "$ROOT"; done
  touch "$ROOT/.unpacked"
fi
CUDA_HOME="$(dirname "$(dirname "$(find "$ROOT" -path '*/bin/nvcc' | head -1)")")"
# zipfile keeps no permissions.
find "$ROOT" -path '*/bin/*' -type f -exec chmod +x {} +
# Unversioned names for the linker (cuRAND's wheel may unpack elsewhere: link it in).
for lib in $(find "$ROOT" -name 'lib*.so.*' -path '*/lib/*' -not -path '*/stubs/*'); do
  name="$(basename "$lib")"
  [ -e "$CUDA_HOME/lib/$name" ] || ln -s "$lib" "$CUDA_HOME/lib/$name"
  base="${name%%.so.*}.so"
  [ -e "$CUDA_HOME/lib/$base" ] || ln -s "$name" "$CUDA_HOME/lib/$base"
done
# The driver stub: every cu* function of cudarc's driver bindings, returning an error.
mkdir -p "$CUDA_HOME/lib/stubs"
if [ ! -f "$CUDA_HOME/lib/stubs/libcuda.so" ]; then
  sys="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.19.*/src/driver/sys/mod.rs | head -1)"
  grep -oE '^\s+(pub )?fn cu[A-Za-z0-9_]+\(' "$sys" | grep -oE 'cu[A-Za-z0-9_]+' | sort -u \
    | awk '{ printf "int %s(void) { return 999; }\n", $1 }' >"$WORK/libcuda-stub.c"
  gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$CUDA_HOME/lib/stubs/libcuda.so" "$WORK/libcuda-stub.c"
fi
echo "toolkit: $CUDA_HOME ($("$CUDA_HOME/bin/nvcc" --version | tail -2 | head -1))"

step "3. cargo build --features cuda (compute capability $CUDA_COMPUTE_CAP)"
export CUDA_HOME CUDA_PATH="$CUDA_HOME" PATH="$CUDA_HOME/bin:$PATH"
export CUDARC_CUDA_VERSION="$(echo "$CUDA_VERSION" | awk -F. '{ printf "%d0%d0", $1, $2 }')"
export LIBRARY_PATH="$CUDA_HOME/lib:$CUDA_HOME/lib/stubs${LIBRARY_PATH:+:$LIBRARY_PATH}"
# Find the libraries at run time where PyTorch's wheels put them, then beside the binary.
export RUSTFLAGS="${RUSTFLAGS:-} -C link-arg=-Wl,-rpath,\$ORIGIN/lib -C link-arg=-Wl,--allow-shlib-undefined"
cargo build --release --features cuda --target-dir "$WORK/build" --bin outerloop --bench gpt_throughput
# Stripped, the two binaries are ~113 MB (candle's CUDA kernels are in them); xz makes
# them ~14 MB, inside the device tool's 64 MiB for everything carried. gpu-check.sh
# unpacks them with Python's lzma (no xz needed there).
rm -rf "$WORK/dist"
mkdir -p "$WORK/bin" "$WORK/dist"
strip -o "$WORK/bin/outerloop" "$WORK/build/release/outerloop"
bench="$(ls -t "$WORK"/build/release/deps/gpt_throughput-* | grep -v '\.d$' | head -1)"
strip -o "$WORK/bin/gpt_throughput" "$bench"
for b in outerloop gpt_throughput; do xz -9 -T0 -c "$WORK/bin/$b" >"$WORK/dist/$b.xz"; done
cp benches/torch_reference.py .ci/gpu-check.sh "$WORK/dist/"
ls -la "$WORK/dist"
echo "carry target/cuda/dist to the GPU machine and run: bash target/cuda/dist/gpu-check.sh"
