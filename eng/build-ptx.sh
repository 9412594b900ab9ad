#!/usr/bin/env bash
# Builds every kernels/cuda/*.cu into build/ptx/<name>.ptx for sm_90 (PTX, JIT-compiled by the driver).
#   bash eng/build-ptx.sh            # find nvcc, install Debian's toolkit if absent (root on Debian only)
#   CUDA_ARCH=sm_80 bash eng/build-ptx.sh
#   PTXAS_VERBOSE=1 bash eng/build-ptx.sh   # also print ptxas -v: registers, shared memory, stack, spills per kernel
# Uses CMake (top-level CMakeLists.txt) when cmake is present, otherwise nvcc directly. Exit code != 0
# when any kernel fails to compile, so CI fails on a kernel that does not build.
set -euo pipefail
cd "$(dirname "$0")/.."
. eng/debian-nonfree.sh
arch="${CUDA_ARCH:-sm_90}"
out="build/ptx"

find_nvcc() {
  if [ -n "${NVCC:-}" ] && [ -x "$NVCC" ]; then echo "$NVCC"; return 0; fi
  if command -v nvcc >/dev/null 2>&1; then command -v nvcc; return 0; fi
  for c in /usr/local/cuda/bin/nvcc /usr/lib/nvidia-cuda-toolkit/bin/nvcc /opt/cuda/bin/nvcc; do
    if [ -x "$c" ]; then echo "$c"; return 0; fi
  done
  return 1
}

install_debian_toolkit() {
  # Debian 12 ships nvcc 11.8 in non-free (package nvidia-cuda-toolkit).
  echo "build-ptx: nvcc not found; installing Debian nvidia-cuda-toolkit (about 1.6 GB, a few minutes)" >&2
  csr_apt_install_nonfree nvidia-cuda-toolkit clang-14
}

nvcc_path="$(find_nvcc || true)"
if [ -z "$nvcc_path" ]; then
  # Exit 3 = "no toolkit could be had" (e.g. the package mirror is unreachable): not a kernel that fails to build.
  install_debian_toolkit || { echo "build-ptx: could not install nvidia-cuda-toolkit; kernels not compiled" >&2; exit 3; }
  nvcc_path="$(find_nvcc)" || { echo "build-ptx: nvcc still not found after install" >&2; exit 3; }
fi

# nvcc 11.8 rejects g++ 12; clang-14 works as host compiler. Newer nvcc (12+) works with the default.
ccbin=()
ver="$("$nvcc_path" --version | sed -nE 's/.*release ([0-9]+)\..*/\1/p')"
if [ "${ver:-0}" -lt 12 ] && command -v clang-14 >/dev/null 2>&1; then ccbin=(-ccbin clang-14); fi
echo "build-ptx: $nvcc_path (CUDA ${ver:-?}) ${ccbin[*]:-} -> $out ($arch)"

# Assemble each PTX with ptxas (next to nvcc) so that a kernel the driver's JIT would reject fails here too.
verify() {
  local ptxas; ptxas="$(dirname "$nvcc_path")/ptxas"
  [ -x "$ptxas" ] || { echo "build-ptx: ptxas not found; PTX not assembled"; return 0; }
  for p in "$out"/*.ptx; do
    "$ptxas" -arch="$arch" ${PTXAS_VERBOSE:+-v} "$p" -o /dev/null || { echo "build-ptx: ptxas rejected $p" >&2; exit 1; }
  done
  echo "build-ptx: ptxas -arch=$arch accepted $(ls "$out"/*.ptx | wc -l) PTX file(s)"
}

mkdir -p "$out"
if command -v cmake >/dev/null 2>&1 && [ -z "${BUILD_PTX_DIRECT:-}" ]; then
  host=()
  [ ${#ccbin[@]} -gt 0 ] && host=(-DCMAKE_CUDA_HOST_COMPILER=clang-14)
  cmake -S . -B build/cmake -DCMAKE_CUDA_COMPILER="$nvcc_path" "${host[@]}" \
        -DCSR_CUDA_ARCH="${arch#sm_}" -DCSR_PTX_DIR="$PWD/$out" >/dev/null
  cmake --build build/cmake
  verify
else
  fail=0
  for cu in kernels/cuda/*.cu; do
    name="$(basename "$cu" .cu)"
    if "$nvcc_path" "${ccbin[@]}" -ptx -arch="$arch" -O3 -lineinfo "$cu" -o "$out/$name.ptx"; then
      echo "build-ptx: $out/$name.ptx"
    else
      echo "build-ptx: FAILED $cu" >&2; fail=1
    fi
  done
  [ "$fail" -eq 0 ] || exit 1
  verify
fi
ls -1 "$out"/*.ptx
