"""Writes transformers' outputs on the tiny checkpoints of `csr-train make-tiny` (tests/golden/io/golden.json).

The C# test Csr.Tests.Pretrained.HfGoldenIoTests rebuilds the same tiny directories (same seed, same files),
loads them with LlavaPretrained / ClipPretrained and compares: Llama tokenizer ids and decoded text
(tokenizer.model written by SentencePieceModelWriter + llava-hf added tokens), CLIP tokenizer ids and
masks (vocab.json + merges.txt), CLIP logits_per_image, and LLaVA greedy generation. It is skipped,
saying so, while golden.json is absent.

Usage (any machine with torch, transformers and sentencepiece, e.g. the project's GPU machine):
    dotnet run --project src/Csr.Train -c Release -- make-tiny --out /tmp/io-tiny --seed 0
    python3 tests/golden/make_io_golden.py /tmp/io-tiny
"""
import json, os, sys
import torch
from transformers import AutoTokenizer, CLIPModel, CLIPTokenizer, LlavaForConditionalGeneration

SEED = 0  # must match the --seed given to make-tiny
HERE = os.path.dirname(os.path.abspath(__file__))
tiny = sys.argv[1]
llava_dir, clip_dir = os.path.join(tiny, "llava"), os.path.join(tiny, "clip")


def t(x):
    x = x.detach().float().cpu()
    return {"shape": list(x.shape), "data": x.flatten().tolist()}


LLAMA_TEXTS = [
    "A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, "
    "detailed, and polite answers to the human's questions. USER: <image>\nWhat is in this image? ASSISTANT:",
    "Is there a red circle?",
    "hello world, héllo 日本",
    "a.b,c  double  spaces",
    "<image><image> two images",
]
CLIP_TEXTS = ["a photo of a red circle.", "There's a BLUE square on the left!", "purple hexagon ü 12", "x " * 100]

tok = AutoTokenizer.from_pretrained(llava_dir)
llama = []
for text in LLAMA_TEXTS:
    ids = tok(text).input_ids
    llama.append({"text": text, "ids": ids, "decoded": tok.decode(ids, skip_special_tokens=True)})

ctok = CLIPTokenizer.from_pretrained(clip_dir)
enc = ctok(CLIP_TEXTS, padding="max_length", max_length=77, truncation=True, return_tensors="pt")
clip_model = CLIPModel.from_pretrained(clip_dir, torch_dtype=torch.float32).eval()
g = torch.Generator().manual_seed(1234)
pixels = torch.randn(1, 3, 28, 28, generator=g)
with torch.no_grad():
    clip_logits = clip_model(input_ids=enc.input_ids, attention_mask=enc.attention_mask, pixel_values=pixels).logits_per_image

model = LlavaForConditionalGeneration.from_pretrained(llava_dir, torch_dtype=torch.float32).eval()
cfg = model.config
prompt_ids = []
for i in tok(LLAMA_TEXTS[0]).input_ids:
    prompt_ids += [i] * cfg.image_seq_length if i == cfg.image_token_index else [i]
ids = torch.tensor([prompt_ids])
with torch.no_grad():
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=pixels,
                         max_new_tokens=8, do_sample=False, num_beams=1, eos_token_id=2, pad_token_id=cfg.pad_token_id)
greedy = out[0, ids.shape[1]:].tolist()

golden = {
    "seed": SEED,
    "llama": llama,
    "clip_texts": CLIP_TEXTS,
    "clip_input_ids": enc.input_ids.flatten().tolist(), "clip_input_ids_shape": list(enc.input_ids.shape),
    "clip_attention_mask": enc.attention_mask.flatten().tolist(),
    "pixel_values": t(pixels),
    "clip_logits_per_image": t(clip_logits),
    "llava_prompt_ids": prompt_ids,
    "llava_greedy": greedy,
}
os.makedirs(os.path.join(HERE, "io"), exist_ok=True)
with open(os.path.join(HERE, "io", "golden.json"), "w") as f:
    json.dump(golden, f, ensure_ascii=False)
print("wrote", os.path.join(HERE, "io", "golden.json"))
