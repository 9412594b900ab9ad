using System.Text.Json;
using Csr.Models.Clip;
using Csr.Models.Llava;
using Csr.Native;
using Csr.Tests.Golden;
using Csr.Tests.IO;
using static TorchSharp.torch;

namespace Csr.Tests.Pretrained;

/// <summary>
/// Against transformers on the tiny checkpoints of make-tiny (tests/golden/io/golden.json from
/// make_io_golden.py): HF must read our tokenizer.model, vocab.json/merges.txt and safetensors exactly as we do.
/// </summary>
public class HfGoldenIoTests
{
    private const string Golden = "io/golden.json";

    [GoldenFact(Golden, "make_io_golden.py")]
    public void Tiny_checkpoints_tokenize_score_and_generate_as_transformers_does()
    {
        TorchRuntime.EnsureInitialised();
        using var doc = JsonDocument.Parse(File.ReadAllText(GoldenFiles.Find(Golden)!));
        var g = doc.RootElement;
        long seed = g.GetProperty("seed").GetInt64();
        using var dir = new TempDir();
        TinyLlavaCheckpoint.Write(dir["llava"], seed);
        TinyClipCheckpoint.Write(dir["clip"], seed);
        using var llava = LlavaPretrained.Load(dir["llava"]);
        using var clip = ClipPretrained.Load(dir["clip"]);
        using var scope = NewDisposeScope();

        foreach (var c in g.GetProperty("llama").EnumerateArray())
        {
            var text = c.GetProperty("text").GetString()!;
            var expected = c.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray();
            Assert.True(expected.SequenceEqual(llava.Tokenizer.Encode(text, addBos: true)),
                $"'{text}': HF {string.Join(",", expected)} vs ours {string.Join(",", llava.Tokenizer.Encode(text, addBos: true))}");
            if (!text.Contains("<image>"))
                Assert.Equal(c.GetProperty("decoded").GetString(), llava.Tokenizer.Decode(expected));
        }

        var texts = g.GetProperty("clip_texts").EnumerateArray().Select(x => x.GetString()!).ToList();
        var (ids, mask) = clip.Tokenizer.EncodeBatch(texts, 77);
        Assert.Equal(GoldenFiles.ReadIds(g, "clip_input_ids").data<long>().ToArray(), ids.data<long>().ToArray());
        Assert.Equal(g.GetProperty("clip_attention_mask").EnumerateArray().Select(x => x.GetInt64()).ToArray(), mask.data<long>().ToArray());

        var pixels = GoldenFiles.ReadTensor(g.GetProperty("pixel_values"));
        var logits = clip.Model.LogitsPerImage(pixels, ids, mask);
        Csr.Tests.Clip.TensorCheck.Close(GoldenFiles.ReadTensor(g.GetProperty("clip_logits_per_image")), logits, 1e-4, 1e-4, "logits_per_image");

        var prompt = g.GetProperty("llama")[0].GetProperty("text").GetString()!;
        Assert.Equal(g.GetProperty("llava_prompt_ids").EnumerateArray().Select(x => x.GetInt32()).ToArray(), llava.EncodePrompt(prompt));
        var greedy = llava.GenerateIds(pixels, prompt, maxNewTokens: 8);
        Assert.Equal(g.GetProperty("llava_greedy").EnumerateArray().Select(x => x.GetInt32()).ToArray(), greedy);
    }
}
