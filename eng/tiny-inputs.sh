#!/usr/bin/env bash
# Sourced by eng/profile.sh and eng/gpu/check.sh: the inputs of a tiny csr-train run besides the make-tiny
# checkpoints: two small PNG images and a prompt file that names them.
#   . eng/tiny-inputs.sh && csr_tiny_inputs DIR     # writes DIR/imgs/im{0,1}.png and DIR/prompts.json

csr_tiny_inputs() {
  local dir="$1"
  mkdir -p "$dir/imgs"
  base64 -d > "$dir/imgs/im0.png" <<'PNG'
iVBORw0KGgoAAAANSUhEUgAAABAAAAAMCAIAAADkharWAAAAJUlEQVR42mPQqDhBEmKgr4YTGhrIiIAGNNW49AwvDSSHEq0iDgDapgAAqBnULQAAAABJRU5ErkJggg==
PNG
  base64 -d > "$dir/imgs/im1.png" <<'PNG'
iVBORw0KGgoAAAANSUhEUgAAAAwAAAAQCAIAAACtAwlQAAAAGklEQVR42mO4c8cGDWmc0EBDDKOKRhURpwgAbMskkM5SwwwAAAAASUVORK5CYII=
PNG
  cat > "$dir/prompts.json" <<'JSON'
[{"id":"q0","image":"im0.png","input":"<image>\nDescribe this image."},{"id":"q1","image":"im1.png","input":"<image>\nDescribe this image."}]
JSON
}

# The sampling and DPO options of the tiny runs (small trees, a few LoRA steps).
CSR_TINY_RUN_ARGS=(--max-new-tokens 6 --max-length 40 --num-beams 3 --num-beam-groups 3 --num-token-beams 3
                   --lr 1e-3 --lora-r 4 --lora-alpha 8 --lora-dropout 0 --seed 5)
