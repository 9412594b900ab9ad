#!/usr/bin/env bash
# Per-stage wall time of one tiny `csr-train run` round for two builds, alternating A and B so both see the same
# machine load; prints each pair and the per-stage medians with the ratio B / A.
#   bash eng/stage-times.sh A/csr-train.dll B/csr-train.dll [pairs=5] [extra run options...]
# A build from another commit: git worktree add /tmp/a <commit> && dotnet build /tmp/a/src/Csr.Train -c Release
set -euo pipefail
a=$(realpath "$1"); b=$(realpath "$2"); pairs=${3:-5}; shift $(( $# < 3 ? $# : 3 ))
here=$(cd "$(dirname "$0")" && pwd)
ws=$(mktemp -d /tmp/csr-stage-times.XXXXXX)
trap 'rm -rf "$ws"' EXIT
. "$here/tiny-inputs.sh"
csr_tiny_inputs "$ws"
dotnet "$a" make-tiny --out "$ws/tiny" --seed 3 >/dev/null
python3 - "$ws" <<'PY'
import json, sys
ws = sys.argv[1]
out = [{"id": f"q{i}", "image": f"im{i % 2}.png",
        "input": "<image>\nDescribe this image in detail." if i % 2 else "<image>\nWhat is in the picture?"} for i in range(24)]
json.dump(out, open(f"{ws}/prompts24.json", "w"))
PY
args=(run --model "$ws/tiny/llava" --clip "$ws/tiny/clip" --prompts "$ws/prompts24.json" --images "$ws/imgs" --iterations 1
      --max-new-tokens 12 --max-length 200 --lora-r 4 --lora-alpha 8 --lr 1e-4 "$@")
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores," \
     "$(grep -o -E 'avx512_bf16|avx512f|avx2|amx_bf16' /proc/cpuinfo | sort -u | tr '\n' ' ')load $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq 1 "$pairs"); do
  for which in A B; do
    dll=$a; [ "$which" = B ] && dll=$b
    rm -rf "$ws/out"
    dotnet "$dll" "${args[@]}" --out "$ws/out" >"$ws/log" 2>&1 || { echo "$which failed:"; tail -5 "$ws/log"; exit 1; }
    echo "$which $(grep '"event":"round"' "$ws/out/run_log.jsonl" | python3 -c 'import sys,json; d=json.loads(sys.stdin.read()); s=d["StageSeconds"]; s["total"]=d["Seconds"]; print(json.dumps(s))')"
  done
done | tee "$ws/pairs"
python3 - "$ws/pairs" <<'PY'
import json, sys, statistics
rows = {"A": [], "B": []}
for line in open(sys.argv[1]):
    k, v = line.split(" ", 1)
    rows[k].append(json.loads(v))
print(f"{'stage':<10} {'A median s':>10} {'B median s':>10} {'B / A':>6}")
for st in rows["A"][0]:
    ma = statistics.median(r[st] for r in rows["A"]); mb = statistics.median(r[st] for r in rows["B"])
    print(f"{st:<10} {ma:>10.3f} {mb:>10.3f} {mb / ma if ma else float('nan'):>6.2f}")
PY
