using Csr.Models.IO;
using Csr.Models.Tokenizers;
using Csr.Models.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Models.Clip;

/// <summary>
/// A random tiny CLIP (vision + text towers, projections) with every file a real HF CLIP directory has:
/// <c>config.json</c>, <c>model.safetensors</c>, <c>vocab.json</c>, <c>merges.txt</c>, <c>tokenizer_config.json</c>,
/// <c>special_tokens_map.json</c>, <c>preprocessor_config.json</c>. Same seed, same files.
/// </summary>
public static class TinyClipCheckpoint
{
    /// <summary>Words every tiny tokenizer knows as single tokens (the demo world can pass its own corpus).</summary>
    public static readonly string[] DefaultCorpus =
    [
        "a photo of a red green blue yellow purple orange white black circle square triangle star.",
        "there is one two three small large shape on the left right top bottom of the image, and it's next to it!",
    ];

    /// <summary>The tiny config (sizes can be raised; the demo world trains a larger one with the same code).</summary>
    public static ClipConfig Config(int vocabSize, int bosId, int eosId, int imageSize = 28, int hiddenSize = 32, int numLayers = 2,
        int numHeads = 2, int visionHiddenSize = 32, int visionLayers = 2, int projectionDim = 16, int patchSize = 14) => new ClipConfig
    {
        ProjectionDim = projectionDim,
        TextConfig = new ClipTextConfig
        {
            VocabSize = vocabSize, HiddenSize = hiddenSize, IntermediateSize = hiddenSize * 2, NumHiddenLayers = numLayers,
            NumAttentionHeads = numHeads, MaxPositionEmbeddings = 77, ProjectionDim = projectionDim, BosTokenId = bosId,
            EosTokenId = eosId, PadTokenId = eosId,
        },
        VisionConfig = new ClipVisionConfig
        {
            HiddenSize = visionHiddenSize, IntermediateSize = visionHiddenSize * 2, NumHiddenLayers = visionLayers,
            NumAttentionHeads = numHeads, ImageSize = imageSize, PatchSize = patchSize, ProjectionDim = projectionDim,
        },
    }.Validate();

    public static ImageProcessorConfig ProcessorConfig(int imageSize = 28) =>
        new() { ShortestEdge = imageSize, CropHeight = imageSize, CropWidth = imageSize, ImageAspectRatio = "none" };

    /// <summary>Builds the model and tokenizer in memory (what <see cref="Write"/> saves).</summary>
    /// <param name="seed">weights seed</param>
    /// <param name="corpus">texts whose words become single tokens (default <see cref="DefaultCorpus"/>)</param>
    /// <param name="configure">config from (vocab size, bos id, eos id); default <see cref="Config"/>'s sizes</param>
    public static (ClipModel Model, Dictionary<string, int> Vocab, List<(string, string)> Merges) Create(long seed, IEnumerable<string>? corpus = null,
        Func<int, int, int, ClipConfig>? configure = null)
    {
        var (vocab, merges) = ClipBpeFiles.Build(corpus ?? DefaultCorpus);
        int bos = vocab[ClipTokenizer.StartToken], eos = vocab[ClipTokenizer.EndToken];
        var model = new ClipModel(configure?.Invoke(vocab.Count, bos, eos) ?? Config(vocab.Count, bos, eos));
        ClipInit.InitWeights(model, new Generator((ulong)seed));
        model.eval();
        return (model, vocab, merges);
    }

    /// <summary>Writes the directory; returns the paths written.</summary>
    public static IReadOnlyList<string> Write(string dir, long seed, IEnumerable<string>? corpus = null, Func<int, int, int, ClipConfig>? configure = null)
    {
        var (model, vocab, merges) = Create(seed, corpus, configure);
        using (model) return Save(dir, model, vocab, merges);
    }

    public static IReadOnlyList<string> Save(string dir, ClipModel model, IReadOnlyDictionary<string, int> vocab, IEnumerable<(string, string)> merges)
    {
        var written = new List<string>(model.SavePretrained(dir));
        written.AddRange(ClipBpeFiles.Write(dir, vocab, merges));
        written.Add(PreprocessorConfigWriter.Write(dir, ProcessorConfig(model.Config.VisionConfig.ImageSize)));
        var tc = Path.Combine(dir, "tokenizer_config.json");
        AtomicFile.WriteAllText(tc, $$"""
            {
              "bos_token": "{{ClipTokenizer.StartToken}}",
              "eos_token": "{{ClipTokenizer.EndToken}}",
              "unk_token": "{{ClipTokenizer.EndToken}}",
              "pad_token": "{{ClipTokenizer.EndToken}}",
              "model_max_length": {{model.Config.TextConfig.MaxPositionEmbeddings}},
              "do_lower_case": true,
              "tokenizer_class": "CLIPTokenizer"
            }
            """ + "\n");
        written.Add(tc);
        var sm = Path.Combine(dir, "special_tokens_map.json");
        AtomicFile.WriteAllText(sm, $$"""
            {
              "bos_token": "{{ClipTokenizer.StartToken}}",
              "eos_token": "{{ClipTokenizer.EndToken}}",
              "unk_token": "{{ClipTokenizer.EndToken}}",
              "pad_token": "{{ClipTokenizer.EndToken}}"
            }
            """ + "\n");
        written.Add(sm);
        return written;
    }
}
