#!/usr/bin/env bash
# Packs the csr-train .NET tool into ./local-tool-feed (gitignored), installs it from there into a temporary
# tool path, and runs the installed command: `csr-train info` (libtorch loads and computes) and
# `csr-train make-tiny` (writes the tiny LLaVA and CLIP checkpoints). Exit code != 0 when packing, installing
# or any check fails; each failure prints one line starting with "tool-sample:".
#   bash eng/tool-sample.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
fail() { echo "tool-sample: $*" >&2; exit 1; }

feed="$PWD/local-tool-feed"
work="$(mktemp -d)"
# The installed tool and the linux-x64 build that packing leaves (about 1 GB with libtorch) go when the check ends.
rid_build="$PWD/src/Csr.Train/bin/Release/net10.0/linux-x64"
trap 'rm -rf "$work" "$rid_build"' EXIT
rm -rf "$feed"
mkdir -p "$feed"
dotnet pack src/Csr.Train -c Release -o "$feed" --nologo -v q || fail "dotnet pack src/Csr.Train failed"
ls -1 "$feed"
[ -f "$feed/csr-train.linux-x64.0.1.0.nupkg" ] || fail "no csr-train.linux-x64 package in $feed"

# A re-packed 0.1.0 must not be served from the global packages cache: drop only our own packages there.
cache="$(dotnet nuget locals global-packages --list | sed -E 's/^[^:]*: *//')"
rm -rf "$cache/csr-train" "$cache/csr-train.linux-x64"

tools="$work/tools"
dotnet tool install --tool-path "$tools" --add-source "$feed" --ignore-failed-sources csr-train ||
  fail "dotnet tool install --tool-path $tools --add-source $feed csr-train failed"
cli="$tools/csr-train"
[ -x "$cli" ] || fail "the install wrote no $cli"

# The packed libLibTorchSharp.so carries GLIBCXX_3.4.32 as a weak requirement, whatever host packed it.
lib="$(find "$tools/.store" -name libLibTorchSharp.so | head -n 1)"
[ -n "$lib" ] || fail "no libLibTorchSharp.so in the installed tool"
if command -v readelf >/dev/null 2>&1; then
  versions="$(readelf -V "$lib")"
  grep -q 'Name: GLIBCXX_3.4.32 *Flags: WEAK' <<<"$versions" || fail "$lib: GLIBCXX_3.4.32 is not marked weak"
fi

info="$("$cli" info)" || fail "csr-train info exited $?"
echo "$info"
grep -q '^torch ok: sum(ones(2,2)) = 4$' <<<"$info" || fail "csr-train info did not report a working libtorch"

"$cli" make-tiny --out "$work/tiny" || fail "csr-train make-tiny exited $?"
for f in llava/config.json llava/tokenizer.model llava/model.safetensors.index.json clip/config.json clip/vocab.json; do
  [ -s "$work/tiny/$f" ] || fail "csr-train make-tiny wrote no $f"
done
echo "tool-sample: csr-train installed from $feed and ran info and make-tiny"
