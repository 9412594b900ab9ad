using System.Text.Json;
using Csr.Models.Clip;
using Csr.Native;
using Csr.Tests.Golden;
using static TorchSharp.torch;

namespace Csr.Tests.Clip;

/// <summary>Against transformers' CLIPModel outputs (tests/golden/hf/clip, from make_hf_golden.py).</summary>
public class HfGoldenClipTests
{
    [GoldenFact("hf/clip/golden.json", "make_hf_golden.py")]
    public void Tiny_clip_matches_transformers()
    {
        TorchRuntime.EnsureInitialised();
        using var scope = NewDisposeScope();
        string dir = Path.GetDirectoryName(GoldenFiles.Find("hf/clip/golden.json")!)!;
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "golden.json")));
        var g = doc.RootElement;
        using var m = ClipModel.FromPretrained(dir);
        var px = GoldenFiles.ReadTensor(g.GetProperty("pixel_values"));
        var ids = GoldenFiles.ReadIds(g, "input_ids");
        var mask = tensor(g.GetProperty("attention_mask").EnumerateArray().Select(x => x.GetInt64()).ToArray(), ids.shape);
        TensorCheck.Close(GoldenFiles.ReadTensor(g.GetProperty("vision_hidden_state_minus_2")), m.vision_model.HiddenState(px, -2), 1e-5, 1e-4, "hidden -2");
        TensorCheck.Close(GoldenFiles.ReadTensor(g.GetProperty("text_last_hidden_state")), m.text_model.LastHiddenState(ids, mask), 1e-5, 1e-4, "text last");
        var img = m.GetImageFeatures(px);
        var txt = m.GetTextFeatures(ids, mask);
        TensorCheck.Close(GoldenFiles.ReadTensor(g.GetProperty("image_embeds")), img / img.norm(-1, true, 2), 1e-5, 1e-4, "image_embeds");
        TensorCheck.Close(GoldenFiles.ReadTensor(g.GetProperty("text_embeds")), txt / txt.norm(-1, true, 2), 1e-5, 1e-4, "text_embeds");
        TensorCheck.Close(GoldenFiles.ReadTensor(g.GetProperty("logits_per_image")), m.LogitsPerImage(px, ids, mask), 1e-4, 1e-4, "logits_per_image");
    }
}
