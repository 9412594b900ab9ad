#!/usr/bin/env bash
# Profiles csr-train with Nsight Systems (NVTX ranges + OS runtime calls) and prints the NVTX range summary.
#   bash eng/profile.sh                  # a tiny 2-round `csr-train run` and an `eval describe` on make-tiny checkpoints
#   bash eng/profile.sh --out DIR        # report folder (default build/profile): rep.nsys-rep, nvtxsum.csv, logs
#   bash eng/profile.sh --install        # install nsight-systems from Debian non-free first when nsys is missing
#   bash eng/profile.sh -- CMD ARGS...   # profile any command instead, e.g. -- dotnet csr-train.dll run ...
# Environment: CSR_TRAIN   csr-train to run: a .dll (run with dotnet) or an executable; default: the Release
#                          build in src/Csr.Train/bin (built when absent)
#              NSYS_TRACE  what nsys traces (default nvtx,osrt; add cuda on a GPU machine)
#              NSYS_SAMPLE process-tree = also CPU IP/backtrace sampling and context switches (default none:
#                          on a busy 2-core machine sampling slows a tiny run from seconds to minutes and can stall)
#              CSR_DEVICE  --device for the default workload (passed when this csr-train has that option)
#              PROFILE_TIMEOUT  seconds before the profiled command is stopped (default 600)
# Exit codes: 0 = summary printed, 2 = bad arguments, 3 = nsys not installed, 4 = no report was written,
# otherwise the profiled command's exit code. See docs/profiling.md.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
. "$repo/eng/debian-nonfree.sh"
. "$repo/eng/tiny-inputs.sh"

out="$repo/build/profile"; install=0; cmd=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) [ $# -ge 2 ] || { echo "profile: --out needs a folder" >&2; exit 2; }; out="$2"; shift 2 ;;
    --install) install=1; shift ;;
    --) shift; cmd=("$@"); break ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "profile: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

find_nsys() {
  if command -v nsys >/dev/null 2>&1; then command -v nsys; return 0; fi
  for c in /usr/local/cuda/bin/nsys /opt/nvidia/nsight-systems/*/bin/nsys; do [ -x "$c" ] && { echo "$c"; return 0; }; done
  return 1
}

# Debian's split packages leave nsys unable to find its importer, so a profile ends as rep.qdstrm only.
find_importer() {
  local real; real="$(readlink -f "$1")"
  for c in "$(dirname "$real")/../host-linux-x64/QdstrmImporter" /usr/lib/nsight-systems/host-linux-x64/QdstrmImporter \
           /opt/nvidia/nsight-systems/*/host-linux-x64/QdstrmImporter; do
    [ -x "$c" ] && { echo "$c"; return 0; }
  done
  return 1
}

nsys_bin="$(find_nsys || true)"
if [ -z "$nsys_bin" ] && [ "$install" = 1 ]; then
  echo "profile: installing nsight-systems from Debian non-free (about 600 MB)"
  csr_apt_install_nonfree nsight-systems libnvtoolsext1 || true
  nsys_bin="$(find_nsys || true)"
fi
if [ -z "$nsys_bin" ]; then
  echo "profile: nsys (Nsight Systems) is not installed; on Debian 12: bash eng/profile.sh --install" >&2
  exit 3
fi

mkdir -p "$out"
out="$(cd "$out" && pwd)"

if [ "${#cmd[@]}" -eq 0 ]; then
  # The default workload: a tiny run on random make-tiny checkpoints and two generated images.
  if [ -n "${CSR_TRAIN:-}" ]; then cli_path="$CSR_TRAIN"
  else
    cli_path="$repo/src/Csr.Train/bin/Release/net10.0/csr-train.dll"
    if [ ! -f "$cli_path" ]; then
      echo "profile: building csr-train (Release)"
      dotnet build "$repo/src/Csr.Train" -c Release -nologo -v q >/dev/null
    fi
  fi
  [ -e "$cli_path" ] || { echo "profile: csr-train not found at $cli_path (set CSR_TRAIN)" >&2; exit 2; }
  case "$cli_path" in *.dll) cli=(dotnet "$cli_path") ;; *) cli=("$cli_path") ;; esac

  work="$out/work"
  rm -rf "$work"; mkdir -p "$work"
  "${cli[@]}" make-tiny --out "$work/tiny" --seed 3 >"$out/make-tiny.log" 2>&1 ||
    { echo "profile: make-tiny failed:" >&2; tail -n 20 "$out/make-tiny.log" >&2; exit 1; }
  csr_tiny_inputs "$work"
  dev=()
  if [ -n "${CSR_DEVICE:-}" ]; then
    if "${cli[@]}" run --help 2>&1 | grep -q -- '--device'; then dev=(--device "$CSR_DEVICE")
    else echo "profile: this csr-train has no --device option; CSR_DEVICE=$CSR_DEVICE ignored"; fi
  fi
  q() { [ $# -eq 0 ] || printf '%q ' "$@"; }
  {
    echo "set -e"
    echo "$(q "${cli[@]}") run --model $(q "$work/tiny/llava") --clip $(q "$work/tiny/clip") --prompts $(q "$work/prompts.json") \
--images $(q "$work/imgs") --out $(q "$work/run") --iterations 2 $(q "${CSR_TINY_RUN_ARGS[@]}") --fused $(q "${dev[@]}")"
    echo "$(q "${cli[@]}") eval describe --model $(q "$work/run/round-2/model") --images $(q "$work/imgs") \
--out $(q "$work/captions.jsonl") --max-new-tokens 4"
  } > "$work/workload.sh"
  cmd=(bash "$work/workload.sh")
fi

trace="${NSYS_TRACE:-nvtx,osrt}"
sample="${NSYS_SAMPLE:-none}"
echo "profile: $nsys_bin profile -t $trace -s $sample -> $out/rep.nsys-rep"
rm -f "$out/rep.nsys-rep" "$out/rep.qdstrm" "$out/rep.sqlite" "$out/nvtxsum.csv"
# nsys hands collection to a daemon (its --session-name is "profile-<cmd>-<nsys pid>") that outlives a killed nsys, so a
# run past PROFILE_TIMEOUT stops both, by pid.
limit="${PROFILE_TIMEOUT:-600}"
run_nsys() {
  NO_COLOR=1 TERM=dumb "$nsys_bin" profile -t "$trace" -s "$sample" --cpuctxsw "$sample" -o "$out/rep" -f true "${cmd[@]}" >"$out/workload.log" 2>&1 &
  nsys_pid=$!
  waited=0
  while kill -0 "$nsys_pid" 2>/dev/null && [ "$waited" -lt "$limit" ]; do sleep 1; waited=$((waited + 1)); done
  if kill -0 "$nsys_pid" 2>/dev/null; then
    echo "profile: nsys did not finish within ${limit}s (PROFILE_TIMEOUT); stopping it" >&2
    daemons="$(pgrep -f -- "--session-name=profile-[^ ]*-$nsys_pid( |\$)" || true)"
    pkill -TERM -P "$nsys_pid" 2>/dev/null || true
    kill -TERM "$nsys_pid" $daemons 2>/dev/null || true
    sleep 5
    kill -KILL "$nsys_pid" $daemons 2>/dev/null || true
  fi
  set +e
  wait "$nsys_pid"
  rc=$?
  set -e
}
run_nsys
# On a loaded machine nsys sometimes cannot reach the collection agent it just started, and stops before launching the
# command ("Local Endpoint is not available"); the command never ran, so it is run once more.
if [ ! -f "$out/rep.nsys-rep" ] && [ ! -f "$out/rep.qdstrm" ] && grep -q "Local Endpoint is not available" "$out/workload.log"; then
  echo "profile: nsys could not reach its collection agent; trying once more" >&2
  cp "$out/workload.log" "$out/workload-first-try.log"
  sleep 2
  run_nsys
fi
if [ ! -f "$out/rep.nsys-rep" ] && [ -f "$out/rep.qdstrm" ]; then
  importer="$(find_importer "$nsys_bin" || true)"
  [ -n "$importer" ] || { echo "profile: $out/rep.qdstrm written but no QdstrmImporter found next to $nsys_bin" >&2; exit 4; }
  "$importer" -i "$out/rep.qdstrm" >"$out/import.log" 2>&1 || { echo "profile: $importer failed:" >&2; tail -n 5 "$out/import.log" >&2; exit 4; }
fi
if [ ! -f "$out/rep.nsys-rep" ]; then
  echo "profile: nsys wrote no report (exit $rc):" >&2; tail -n 30 "$out/workload.log" >&2; exit 4
fi
if [ "$rc" -ne 0 ]; then
  echo "profile: the profiled command failed (exit $rc); its output ($out/workload.log) ends:" >&2
  tail -n 30 "$out/workload.log" >&2
fi

"$nsys_bin" stats -q --force-export true --report nvtxsum --format csv --output - "$out/rep.nsys-rep" 2>"$out/stats.log" \
  | grep -v '^\s*$' > "$out/nvtxsum.csv" || true
echo
"$nsys_bin" stats -q --report nvtxsum "$out/rep.nsys-rep" 2>>"$out/stats.log" | grep -v '^Processing \[' || true
echo "profile: report $out/rep.nsys-rep (open in nsys-ui), summary $out/nvtxsum.csv"
exit "$rc"
