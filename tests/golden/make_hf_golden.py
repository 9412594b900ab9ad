"""Writes HF reference outputs for the C# CLIP and LLaVA tests (tests/golden/hf/...).

Needs torch + transformers (e.g. on the project's GPU machine: python3 make_hf_golden.py).
Creates tiny random models with transformers' own classes, saves them with save_pretrained
(safetensors) and dumps inputs and outputs to golden.json. The C# tests
(Csr.Tests.Clip.HfGoldenClipTests, Csr.Tests.Llava.HfGoldenLlavaTests) load the saved checkpoints
with ClipModel.FromPretrained / LlavaForConditionalGeneration.FromPretrained and compare; they are
skipped, saying so, while these files are absent.
"""
import json, os
import torch
from transformers import CLIPConfig, CLIPModel, LlavaConfig, LlavaForConditionalGeneration

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(0)


def t(x):
    x = x.detach().float().cpu()
    return {"shape": list(x.shape), "data": x.flatten().tolist()}


def perturb(model):
    # layer norms / biases away from 1 / 0 so that a wrong parameter order shows
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "norm" in n or n.endswith("bias"):
                p.add_(torch.randn_like(p) * 0.1)


# ---- CLIP ----
clip_cfg = CLIPConfig(
    text_config=dict(vocab_size=40, hidden_size=16, intermediate_size=24, num_hidden_layers=2, num_attention_heads=4,
                     max_position_embeddings=10, eos_token_id=2, bos_token_id=0, pad_token_id=1, projection_dim=8),
    vision_config=dict(hidden_size=16, intermediate_size=24, num_hidden_layers=3, num_attention_heads=2,
                       image_size=12, patch_size=4, projection_dim=8),
    projection_dim=8, logit_scale_init_value=2.6592)
clip = CLIPModel(clip_cfg).eval()
perturb(clip)
clip_dir = os.path.join(HERE, "hf", "clip")
clip.save_pretrained(clip_dir, safe_serialization=True)
px = torch.randn(2, 3, 12, 12)
ids = torch.tensor([[0, 5, 39, 7, 1, 1], [0, 8, 9, 10, 11, 39]])
mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]])
with torch.no_grad():
    out = clip(input_ids=ids, pixel_values=px, attention_mask=mask, output_hidden_states=True)
golden = {
    "pixel_values": t(px), "input_ids": ids.flatten().tolist(), "input_ids_shape": list(ids.shape),
    "attention_mask": mask.flatten().tolist(),
    "logits_per_image": t(out.logits_per_image),
    "image_embeds": t(out.image_embeds), "text_embeds": t(out.text_embeds),
    "vision_hidden_state_minus_2": t(out.vision_model_output.hidden_states[-2]),
    "text_last_hidden_state": t(out.text_model_output.last_hidden_state),
}
with open(os.path.join(clip_dir, "golden.json"), "w") as f:
    json.dump(golden, f)

# ---- LLaVA ----
llava_cfg = LlavaConfig(
    text_config=dict(model_type="llama", vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-5,
                     bos_token_id=1, eos_token_id=2, pad_token_id=0),
    vision_config=dict(model_type="clip_vision_model", hidden_size=16, intermediate_size=24, num_hidden_layers=3,
                       num_attention_heads=2, image_size=12, patch_size=4, projection_dim=8),
    image_token_index=63, image_seq_length=9, vision_feature_layer=-2, vision_feature_select_strategy="default",
    projector_hidden_act="gelu", pad_token_id=0)
llava = LlavaForConditionalGeneration(llava_cfg).eval()
with torch.no_grad():
    for n, p in llava.named_parameters():
        p.normal_(0, 0.2) if p.dim() > 1 else p.add_(torch.randn_like(p) * 0.1)
llava_dir = os.path.join(HERE, "hf", "llava")
llava.save_pretrained(llava_dir, safe_serialization=True)
px = torch.randn(2, 3, 12, 12)
row = [1, 5] + [63] * 9 + [7, 8]
ids = torch.tensor([row, row])
with torch.no_grad():
    out = llava(input_ids=ids, pixel_values=px, attention_mask=torch.ones_like(ids))
golden = {"pixel_values": t(px), "input_ids": ids.flatten().tolist(), "input_ids_shape": list(ids.shape),
          "logits": t(out.logits)}
if getattr(out, "image_hidden_states", None) is not None:
    golden["image_features"] = t(out.image_hidden_states.reshape(2, 9, -1))
with open(os.path.join(llava_dir, "golden.json"), "w") as f:
    json.dump(golden, f)
print("wrote", clip_dir, llava_dir)
