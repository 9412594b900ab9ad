#!/usr/bin/env bash
# The prepared GPU validation for Csr.Kernels (run on a machine with an NVIDIA GPU, e.g. H100/H200):
# builds kernels/cuda to PTX for sm_90, then runs every CUDA / ILGPU kernel against the CPU reference at
# benchmark shapes and times the DPO row kernel (achieved GB/s vs peak). Exit code != 0 on a mismatch.
#   bash eng/gpu-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash eng/build-ptx.sh
export CSR_PTX_DIR="$PWD/build/ptx"
dotnet run -c Release --project bench/Csr.Bench -- --kernels-gpu-check
