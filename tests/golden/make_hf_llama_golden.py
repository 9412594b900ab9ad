"""Writes HF reference outputs for the C# Llama and generation tests (tests/golden/hf/llama/<case>/).

Needs torch + transformers (e.g. on the project's GPU machine: python3 make_hf_llama_golden.py).
For each case it builds a tiny random LlamaForCausalLM with transformers' own class, saves it with
save_pretrained (safetensors + config.json) and dumps
  - to golden.json: logits of a left-padded batch, with position_ids = cumsum(mask) - 1 as generate() uses them;
  - to gbs.json: diverse group beam search (num_beams 5, num_beam_groups 5, diversity_penalty 3.0, one stop id,
    max_new_tokens 8, num_return_sequences 5): generated ids and sequences_scores.
Every golden.json is written before the first beam search runs. transformers >= 4.56 moved group beam search to
the Hub: there generate() raises and the script stops with that error, leaving the gbs.json files absent (run it
with transformers < 4.56 to get them).
The C# tests (Csr.Tests.Llama.HfGoldenLlamaTests) load the checkpoints with LlamaForCausalLM.FromPretrained
and compare; each is skipped, saying which file is absent, while its golden file is.
"""
import json, os
import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(0)

BASE = dict(vocab_size=48, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            max_position_embeddings=64, rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2, pad_token_id=0)
CASES = {
    "gqa": dict(BASE, num_key_value_heads=2, rope_theta=500.0),
    "llama3_rope_tied": dict(BASE, num_key_value_heads=1, tie_word_embeddings=True,
                             rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                           "high_freq_factor": 4.0, "original_max_position_embeddings": 16}),
    "linear_rope": dict(BASE, num_key_value_heads=4, rope_scaling={"type": "linear", "factor": 2.0}),
}


def t(x):
    x = x.detach().float().cpu()
    return {"shape": list(x.shape), "data": x.flatten().tolist()}


models = {}
for name, cfg in CASES.items():
    model = LlamaForCausalLM(LlamaConfig(**cfg)).eval()
    with torch.no_grad():
        for n, p in model.named_parameters():
            p.normal_(0, 0.2) if p.dim() > 1 else p.add_(torch.randn_like(p) * 0.1)
    d = os.path.join(HERE, "hf", "llama", name)
    model.save_pretrained(d, safe_serialization=True)
    ids = torch.tensor([[0, 0, 1, 5, 9, 7], [1, 4, 3, 8, 10, 11]])
    mask = torch.tensor([[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]])
    pos = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask, position_ids=pos).logits
    golden = {"transformers": transformers.__version__, "input_ids": ids.flatten().tolist(),
              "input_ids_shape": list(ids.shape), "attention_mask": mask.flatten().tolist(), "logits": t(logits)}
    with open(os.path.join(d, "golden.json"), "w") as f:
        json.dump(golden, f)
    print("wrote", os.path.join(d, "golden.json"))
    models[name] = (model, d)

for name, (model, d) in models.items():
    prompt = torch.tensor([[1, 7, 9, 4, 11]])
    with torch.no_grad():
        gen = model.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), do_sample=False,
                             num_beams=5, num_beam_groups=5, diversity_penalty=3.0, eos_token_id=[2],
                             pad_token_id=0, max_new_tokens=8, num_return_sequences=5,
                             output_scores=True, return_dict_in_generate=True)
    rows = []
    for r in gen.sequences[:, prompt.shape[1]:].tolist():
        rows.append(r[: r.index(2) + 1] if 2 in r else r)  # finished: up to the stop id; else all 8
    gbs = {"transformers": transformers.__version__, "prompt": prompt.flatten().tolist(), "sequences": rows,
           "sequences_scores": gen.sequences_scores.tolist()}
    with open(os.path.join(d, "gbs.json"), "w") as f:
        json.dump(gbs, f)
    print("wrote", os.path.join(d, "gbs.json"))
