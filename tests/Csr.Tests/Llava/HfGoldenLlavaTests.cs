using System.Text.Json;
using Csr.Models.Llava;
using Csr.Native;
using Csr.Tests.Golden;
using static TorchSharp.torch;

namespace Csr.Tests.Llava;

/// <summary>Against transformers' LlavaForConditionalGeneration (tests/golden/hf/llava, from make_hf_golden.py;
/// saved in whatever naming that transformers version writes, mapped by LlavaKeyMap).</summary>
public class HfGoldenLlavaTests
{
    [GoldenFact("hf/llava/golden.json", "make_hf_golden.py")]
    public void Tiny_llava_matches_transformers()
    {
        TorchRuntime.EnsureInitialised();
        using var scope = NewDisposeScope();
        string dir = Path.GetDirectoryName(GoldenFiles.Find("hf/llava/golden.json")!)!;
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "golden.json")));
        var g = doc.RootElement;
        using var m = LlavaForConditionalGeneration.FromPretrained(dir);
        var px = GoldenFiles.ReadTensor(g.GetProperty("pixel_values"));
        var ids = GoldenFiles.ReadIds(g, "input_ids");
        var feats = m.EncodeImages(px);
        if (g.TryGetProperty("image_features", out var f))
            Clip.TensorCheck.Close(GoldenFiles.ReadTensor(f), feats, 1e-5, 1e-4, "image features");
        var logits = m.Forward(m.EmbedInputs(ids, feats), ones_like(ids), null);
        Clip.TensorCheck.Close(GoldenFiles.ReadTensor(g.GetProperty("logits")), logits, 1e-4, 1e-4, "logits");
    }
}
