#!/usr/bin/env bash
# The device check, run on the GPU machine (no .NET; PyTorch + CuPy in /opt/torch/.venv) from the repo root with
# the bundle of eng/gpu/prepare.sh carried in build/gpu-bundle. Everything it learns goes to $OUT
# (summary.md, steps.tsv, one log per step, ptx_check.json):
#   1. the machine: nvidia-smi, driver, PyTorch / CUDA / CuPy versions, nvcc, ncu
#   2. eng/gpu/ptx_check.py: every build/ptx kernel through CuPy against PyTorch, timed, GB/s vs HBM peak
#   3. the bundle unpacked; csr-train info with LD_LIBRARY_PATH = PyTorch's torch/lib (does TorchSharp 0.107 load
#      against that libtorch? does a CUDA tensor op work?)
#   4. when it loads: make-tiny, a tiny 2-round csr-train run with the CUDA PTX kernels (CSR_KERNEL_PATH=cuda
#      --fused); when CUDA works and csr-train has --device: run / generate / sample / dpo --device cuda
#   bash eng/gpu/check.sh [--dry-run] [--bundle build/gpu-bundle]
# --dry-run (or a machine without a GPU) runs what needs no GPU: the bundle unpack, csr-train info with whatever
# libtorch is found (CSR_TORCH_LIB = a folder with libtorch*.so overrides PyTorch's; with one, make-tiny and a tiny
# 1-round CPU run follow), ptx_check.py --dry-run, and says that no GPU is present. Every step has a timeout and the
# whole check stops starting steps after CHECK_BUDGET seconds (default 450). Exit code 0 unless a check that ran
# found a mismatch or the bundle is unusable.
set -uo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"
. eng/tiny-inputs.sh

dry=0; bundle="build/gpu-bundle"
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry=1; shift ;;
    --bundle) bundle="$2"; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "check: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
OUT="${OUT:-$repo/build/gpu-check}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
work="${CHECK_WORK:-${TMPDIR:-/tmp}/csr-gpu-check}"
rm -rf "$work"; mkdir -p "$work"
start=$(date +%s)
budget="${CHECK_BUDGET:-450}"
: > "$OUT/steps.tsv"
notes=()
status=0

note() { notes+=("$*"); echo "check: $*"; }

# step NAME TIMEOUT CMD...: runs CMD with a timeout (cut to what is left of the budget), output to $OUT/NAME.log,
# one line "NAME rc seconds" in steps.tsv. Returns CMD's exit code (124 = timed out, 125 = not started).
step() {
  local name="$1" limit="$2"; shift 2
  local left=$((budget - ($(date +%s) - start)))
  if [ "$left" -lt 10 ]; then
    printf '%s\t125\t0\tnot started: check budget spent\n' "$name" >> "$OUT/steps.tsv"
    echo "check: $name not started (budget of ${budget}s spent)"; return 125
  fi
  [ "$limit" -le "$left" ] || limit="$left"
  local t0; t0=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  local secs=$(($(date +%s) - t0))
  local what="ok"; [ "$rc" -eq 0 ] || what="exit $rc"; [ "$rc" -eq 124 ] && what="timed out after ${limit}s"
  printf '%s\t%s\t%s\t%s\n' "$name" "$rc" "$secs" "$what" >> "$OUT/steps.tsv"
  echo "check: $name: $what (${secs}s)"
  return "$rc"
}

# 1. The machine.
py="/opt/torch/.venv/bin/python3"; [ -x "$py" ] || py="$(command -v python3 || true)"
gpu=0
if [ "$dry" = 0 ] && command -v nvidia-smi >/dev/null 2>&1 && step nvidia-smi 30 nvidia-smi; then gpu=1; fi
[ "$gpu" = 1 ] && step gpu-query 30 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.memory --format=csv
command -v nvcc >/dev/null 2>&1 && step nvcc 20 nvcc --version
command -v ncu >/dev/null 2>&1 && step ncu 20 ncu --version
torch_lib=""
if [ -n "$py" ]; then
  step python-torch 60 "$py" -c 'import sys, os
print("python", sys.version.split()[0])
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
print("torch_lib", os.path.join(os.path.dirname(torch.__file__), "lib"))
if torch.cuda.is_available(): print("device", torch.cuda.get_device_name(0))
try:
    import cupy; print("cupy", cupy.__version__)
except ImportError as e: print("cupy missing:", e)'
  torch_lib="$(sed -nE 's/^torch_lib (.*)$/\1/p' "$OUT/python-torch.log")"
  [ -d "$torch_lib" ] || torch_lib=""
  grep -q "available True" "$OUT/python-torch.log" || { [ "$gpu" = 1 ] && note "nvidia-smi answers but torch.cuda.is_available() is not True"; gpu=0; }
fi
if [ "$gpu" = 1 ]; then note "GPU: $(sed -n 2p "$OUT/gpu-query.log" 2>/dev/null)"
elif [ "$dry" = 1 ]; then note "dry run: no GPU step is run"
else note "no GPU present (nvidia-smi or torch.cuda unavailable): only the steps that need none ran"; fi

# 2. The PTX kernels through CuPy (needs no TorchSharp).
ptx_dir="build/ptx"
if [ -f "$bundle/csr-gpu-bundle.tar.xz" ]; then ptx_dir="$work/bundle/ptx"; fi

# 3. The bundle.
cli=""
if [ -f "$bundle/csr-gpu-bundle.tar.xz" ]; then
  mkdir -p "$work/bundle"
  if step unpack 120 tar -C "$work/bundle" -xJf "$bundle/csr-gpu-bundle.tar.xz"; then
    cli="$work/bundle/csr-train/csr-train"
    cp "$work/bundle/MANIFEST.txt" "$OUT/bundle-MANIFEST.txt" 2>/dev/null
    note "bundle: $(du -sh "$work/bundle" | cut -f1) unpacked from $(du -h "$bundle/csr-gpu-bundle.tar.xz" | cut -f1)"
  else
    note "bundle: $bundle/csr-gpu-bundle.tar.xz could not be unpacked"; status=1
  fi
else
  note "bundle: $bundle/csr-gpu-bundle.tar.xz not found (build it with bash eng/gpu/prepare.sh and carry $bundle)"
fi

if [ -n "$py" ]; then
  step ptx-compile 30 "$py" -m py_compile eng/gpu/ptx_check.py || status=1
  if [ ! -d "$ptx_dir" ]; then note "ptx: no PTX ($ptx_dir); the kernel check did not run"
  elif [ "$gpu" = 1 ]; then
    step ptx-check 180 "$py" eng/gpu/ptx_check.py --ptx-dir "$ptx_dir" --json "$OUT/ptx_check.json"; rc=$?
    [ "$rc" -eq 0 ] || status=1
    note "ptx check: $(grep '^ptx-check:' "$OUT/ptx-check.log" | tail -n 1 || echo "no result (exit $rc)")"
  else
    step ptx-check 60 "$py" eng/gpu/ptx_check.py --ptx-dir "$ptx_dir" --dry-run --json "$OUT/ptx_check.json" || status=1
    note "ptx check: $(grep '^ptx-check:' "$OUT/ptx-check.log" | tail -n 1)"
  fi
fi

# 4. csr-train against PyTorch's libtorch.
loads=0; cuda_op=0; has_device=0
if [ -n "${CSR_TORCH_LIB:-}" ]; then torch_lib="$CSR_TORCH_LIB"; note "libtorch from CSR_TORCH_LIB=$CSR_TORCH_LIB"; fi
if [ -n "$cli" ]; then
  if [ -n "$torch_lib" ] && [ -d "$torch_lib" ]; then
    export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    note "LD_LIBRARY_PATH=$torch_lib"
  else
    note "no PyTorch torch/lib found: csr-train has only the bundle's own natives (no libtorch)"
  fi
  export CSR_PTX_DIR="$work/bundle/ptx" NO_COLOR=1 TERM=dumb DOTNET_gcServer=0
  step csr-train-info 90 "$cli" info; info_rc=$?
  if [ "$info_rc" -ne 0 ] && [ -n "$torch_lib" ] && [ -d "$torch_lib" ]; then
    # TorchSharp probes next to its assembly first: put links to the borrowed libraries there and try again.
    note "csr-train info failed with LD_LIBRARY_PATH alone: $(grep -vE '^\s*$' "$OUT/csr-train-info.log" | head -n 2 | tr '\n' ' ' | cut -c1-300)"
    for f in "$torch_lib"/lib*.so*; do ln -sf "$f" "$work/bundle/csr-train/$(basename "$f")"; done
    step csr-train-info-linked 90 "$cli" info; info_rc=$?
    cp "$OUT/csr-train-info-linked.log" "$OUT/csr-train-info.log"
  fi
  if [ "$info_rc" -eq 0 ]; then
    loads=1; note "TorchSharp loads: $(grep -E '^TorchSharp|^torch ok' "$OUT/csr-train-info.log" | tr '\n' ';')"
    grep -qi "^cuda ok" "$OUT/csr-train-info.log" && cuda_op=1
    note "CUDA from TorchSharp: $(grep -iE '^cuda' "$OUT/csr-train-info.log" | head -n 2 | tr '\n' ';' || true)"
  else
    note "TorchSharp does not load (csr-train info): $(grep -vE '^\s*$' "$OUT/csr-train-info.log" | head -n 3 | tr '\n' ' ' | cut -c1-400)"
  fi
  "$cli" run --help 2>&1 | grep -q -- '--device' && has_device=1
  [ "$has_device" = 1 ] || note "this csr-train has no --device option: the TorchSharp CUDA runs are skipped"
fi

if [ "$loads" = 1 ]; then
  tiny="$work/tiny"
  csr_tiny_inputs "$tiny"
  if step make-tiny 90 "$cli" make-tiny --out "$tiny/ckpt" --seed 3; then
    base=(--model "$tiny/ckpt/llava" --clip "$tiny/ckpt/clip" --prompts "$tiny/prompts.json" --images "$tiny/imgs")
    if [ "$gpu" = 1 ]; then
      # The C# CUDA launchers (DpoLogRatio.Cuda, BeamStepRows.FromCuda) with TorchSharp on the CPU.
      CSR_KERNEL_PATH=cuda step run-ptx-path 150 "$cli" run "${base[@]}" --out "$tiny/run-ptx" --iterations 2 "${CSR_TINY_RUN_ARGS[@]}" --fused
      if grep -q "CUDA path unavailable\|CUDA kernel .* unavailable" "$OUT/run-ptx-path.log"; then
        note "CSR_KERNEL_PATH=cuda run fell back to the CPU: $(grep -m1 'unavailable' "$OUT/run-ptx-path.log")"
      elif [ -f "$tiny/run-ptx/round-2/model/config.json" ]; then note "CSR_KERNEL_PATH=cuda run: 2 rounds finished (CPU tensors: kernels.json shows which ops fell back to the fused CPU path)"
      fi
    fi
    if [ "$gpu" = 0 ]; then
      # No GPU: prove the bundle end to end on the CPU.
      step run-cpu 150 "$cli" run "${base[@]}" --out "$tiny/run-cpu" --iterations 1 "${CSR_TINY_RUN_ARGS[@]}" --fused &&
        note "tiny 1-round run on the CPU finished ($(ls "$tiny/run-cpu/round-1/model" 2>/dev/null | wc -l) files in round-1/model)"
    fi
    if [ "$gpu" = 1 ] && [ "$cuda_op" = 1 ] && [ "$has_device" = 1 ]; then
      step run-cuda 150 "$cli" run "${base[@]}" --out "$tiny/run-cuda" --iterations 2 "${CSR_TINY_RUN_ARGS[@]}" --device cuda
      step generate-cuda 60 "$cli" generate --model "$tiny/ckpt/llava" --image "$tiny/imgs/im0.png" --prompt "Describe this image." \
        --max-new-tokens 8 --device cuda
      step sample-cuda 90 "$cli" sample --model "$tiny/ckpt/llava" --prompts "$tiny/prompts.json" --images "$tiny/imgs" \
        --out "$tiny/sample-cuda" --max-new-tokens 6 --max-length 40 --num-beams 3 --num-beam-groups 3 --num-token-beams 3 --device cuda
      prefs="$tiny/run-cuda/round-1/preferences.json"
      [ -f "$prefs" ] || prefs="$tiny/run-ptx/round-1/preferences.json"
      if [ -f "$prefs" ]; then
        step dpo-cuda 90 "$cli" dpo --model "$tiny/ckpt/llava" --prefs "$prefs" --images "$tiny/imgs" --out "$tiny/dpo-cuda" \
          --lr 1e-3 --lora-r 4 --lora-alpha 8 --lora-dropout 0 --device cuda
      else note "dpo --device cuda skipped: no preferences.json from a run"; fi
    elif [ "$gpu" = 1 ]; then
      note "TorchSharp CUDA runs skipped (CUDA tensor op works: $cuda_op, csr-train has --device: $has_device)"
    fi
  fi
fi

# Summary.
{
  echo "# GPU check"
  echo
  echo "- when: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(($(date +%s) - start)) s; host $(uname -n); mode: $([ "$dry" = 1 ] && echo dry run || echo full)"
  for n in "${notes[@]}"; do echo "- $n"; done
  echo
  echo "| step | exit | seconds | result |"
  echo "|---|---|---|---|"
  while IFS=$'\t' read -r name rc secs what; do echo "| $name | $rc | $secs | $what |"; done < "$OUT/steps.tsv"
  echo
  echo "Logs: one \`<step>.log\` per step in this folder; kernel figures in ptx-check.log / ptx_check.json."
} > "$OUT/summary.md"
cat "$OUT/summary.md"
exit "$status"
