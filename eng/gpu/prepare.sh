#!/usr/bin/env bash
# Builds, on a machine with the .NET SDK, what eng/gpu/check.sh needs on the GPU machine (which has no .NET and
# takes at most 64 MiB of repo + carried files):
#   build/gpu-bundle/csr-gpu-bundle.tar.xz  with
#     csr-train/   a self-contained linux-x64 publish of csr-train (the .NET runtime included) WITHOUT TorchSharp's
#                  CPU libtorch (libtorch_cpu.so alone is 461 MB); libLibTorchSharp.so stays (patched by
#                  eng/TorchSharpGlibcxxFix.targets) and is loaded against the GPU machine's PyTorch torch/lib
#     ptx/         build/ptx/*.ptx from eng/build-ptx.sh, for eng/gpu/ptx_check.py and csr-train's CUDA path
#     MANIFEST.txt commit, versions, sizes
#   bash eng/gpu/prepare.sh [--out build/gpu-bundle]
# Prints the unpacked and compressed sizes and the total that would travel (tracked repo files + bundle).
set -euo pipefail
cd "$(dirname "$0")/../.."
out="build/gpu-bundle"
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "prepare: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
limit_mib=64
stage="build/gpu-stage"
rm -rf "$stage" "$out"
mkdir -p "$stage" "$out"

# PTX first: Csr.Kernels ships build/ptx/*.ptx into the app's ptx/ folder, where the CUDA path looks.
bash eng/build-ptx.sh
mkdir -p "$stage/ptx"
cp build/ptx/*.ptx "$stage/ptx/"

echo "prepare: dotnet publish csr-train (Release, linux-x64, self-contained)"
dotnet publish src/Csr.Train/Csr.Train.csproj -c Release -r linux-x64 --self-contained true -o "$stage/csr-train" -nologo -v q \
  -p:DebugType=portable >/dev/null

# Drop libtorch-cpu-linux-x64's natives: the GPU machine's PyTorch provides libtorch / libc10 (CUDA builds).
pkgs="$(dotnet nuget locals global-packages -l | sed -E 's/^global-packages: *//')"
native_dir="$(ls -d "$pkgs"/libtorch-cpu-linux-x64/*/runtimes/linux-x64/native 2>/dev/null | tail -n 1 || true)"
removed=0
if [ -n "$native_dir" ]; then
  for f in "$native_dir"/*; do
    name="$(basename "$f")"
    if [ -e "$stage/csr-train/$name" ]; then rm -f "$stage/csr-train/$name"; removed=$((removed + 1)); fi
  done
fi
# The same files by name, should the package folder be elsewhere.
for pat in 'libtorch*.so' 'libc10*.so' 'libgomp-*.so*' 'libshm.so' 'libaoti_custom_ops.so' 'libbackend_with_compiler.so' \
           'libjitbackend_test.so' 'libnnapi_backend.so'; do
  for f in "$stage"/csr-train/$pat; do [ -e "$f" ] && { rm -f "$f"; removed=$((removed + 1)); }; done
done
[ -f "$stage/csr-train/libLibTorchSharp.so" ] || { echo "prepare: libLibTorchSharp.so missing from the publish" >&2; exit 1; }
[ -x "$stage/csr-train/csr-train" ] || { echo "prepare: the publish has no csr-train executable" >&2; exit 1; }
echo "prepare: removed $removed libtorch native file(s); kept libLibTorchSharp.so (NEEDED: $(readelf -d "$stage/csr-train/libLibTorchSharp.so" 2>/dev/null | sed -nE 's/.*Shared library: \[(lib(torch|c10)[^]]*)\].*/\1/p' | tr '\n' ' '))"

{
  echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n)"
  echo "dotnet sdk: $(dotnet --version)"
  echo "TorchSharp: $(sed -nE 's/.*PackageVersion Include="TorchSharp-cpu" Version="([^"]+)".*/\1/p' Directory.Packages.props)"
  echo "ptx: $(cd "$stage/ptx" && ls *.ptx | tr '\n' ' ')"
  echo "unpacked bytes: $(du -sb "$stage" | cut -f1)"
} > "$stage/MANIFEST.txt"

tarball="$out/csr-gpu-bundle.tar.xz"
echo "prepare: compressing (xz)"
tar -C "$stage" -cf - . | xz -T0 -6 > "$tarball"
cp "$stage/MANIFEST.txt" "$out/MANIFEST.txt"

mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
unpacked="$(du -sb "$stage" | cut -f1)"
packed="$(stat -c %s "$tarball")"
repo_bytes="$(git ls-files -z | xargs -0 stat -c %s 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')"
untracked_bytes="$(git ls-files -z --others --exclude-standard | xargs -0 -r stat -c %s 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')"
total=$((packed + repo_bytes + untracked_bytes))
echo "prepare: unpacked $(mib "$unpacked"), bundle $tarball $(mib "$packed")"
echo "prepare: travels: repo $(mib "$repo_bytes") tracked + $(mib "$untracked_bytes") untracked + bundle = $(mib "$total") of $limit_mib MiB"
rm -rf "$stage"
if [ "$total" -gt $((limit_mib * 1048576)) ]; then
  echo "prepare: over the $limit_mib MiB that can travel to the GPU machine" >&2
  exit 1
fi
echo "prepare: on the GPU machine: run with carry [\"$out\"] and command 'bash eng/gpu/check.sh'"
