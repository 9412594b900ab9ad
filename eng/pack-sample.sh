#!/usr/bin/env bash
# Packs Csr.Native and Csr.Kernels into ./local-feed (gitignored) and runs samples/KernelsConsumer,
# which consumes Csr.Kernels as a NuGet package from that feed. Exit code != 0 when packing, restoring,
# building or the sample's own checks fail.
#   bash eng/pack-sample.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
feed="$PWD/local-feed"
rm -rf "$feed"
mkdir -p "$feed"
dotnet pack src/Csr.Native -c Release -o "$feed" --nologo -v q
dotnet pack src/Csr.Kernels -c Release -o "$feed" --nologo -v q
ls -1 "$feed"

# A re-packed 0.1.0 must not be served from the global packages cache: drop only our own packages there.
cache="$(dotnet nuget locals global-packages --list | sed -E 's/^[^:]*: *//')"
rm -rf "$cache/csr.kernels" "$cache/csr.native"

dotnet run --project samples/KernelsConsumer -c Release
