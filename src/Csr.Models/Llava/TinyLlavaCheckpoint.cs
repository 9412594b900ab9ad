using Csr.Models.Clip;
using Csr.Models.IO;
using Csr.Models.Llama;
using Csr.Models.Tokenizers;
using Csr.Models.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Models.Llava;

/// <summary>
/// A random tiny LLaVA-1.5 with every file a real llava-hf directory has: <c>config.json</c> (text_config /
/// vision_config), sharded safetensors + <c>model.safetensors.index.json</c>, <c>tokenizer.model</c>
/// (a real SentencePiece BPE model), <c>tokenizer_config.json</c> / <c>special_tokens_map.json</c> /
/// <c>added_tokens.json</c> with <c>&lt;image&gt;</c> and <c>&lt;pad&gt;</c> right after the base pieces (as 32000 / 32001),
/// and <c>preprocessor_config.json</c>. Same seed, same files.
/// </summary>
public static class TinyLlavaCheckpoint
{
    /// <summary>Words that become single tokens (after a space): the LLaVA v1 prompt and a few scene words.</summary>
    public static readonly string[] DefaultWords =
    [
        "A", "chat", "between", "a", "curious", "human", "user", "and", "an", "artificial", "intelligence", "assistant",
        "The", "gives", "helpful", "detailed", "polite", "answers", "to", "the", "human's", "user's", "questions",
        "USER", "ASSISTANT", "What", "is", "in", "this", "image", "Describe", "There", "are", "red", "green", "blue",
        "yellow", "circle", "square", "triangle", "star", "on", "left", "right", "Is", "there", "Yes", "No",
    ];

    public static readonly string[] DefaultExtraPieces = [".", ",", ":", "?", "'", "!"];

    /// <summary>The tokenizer vocabulary: Llama-style specials + 256 bytes + the words' pieces.</summary>
    public static List<SentencePiece> Vocabulary(IEnumerable<string>? words = null) =>
        SentencePieceModelWriter.BuildLlamaStyleVocabulary(words ?? DefaultWords, DefaultExtraPieces);

    /// <summary>
    /// The tiny config: image token and pad right after the <paramref name="basePieces"/> tokenizer pieces, vocabulary
    /// padded to a multiple of 64 (as llava-hf's 32064), CLIP-style vision tower with patch 14. Sizes can be raised
    /// (the demo world trains a larger "tiny" model with the same code).
    /// </summary>
    public static LlavaConfig Config(int basePieces, int imageSize = 28, int hiddenSize = 64, int numLayers = 2,
        int numHeads = 4, int numKvHeads = 2, int intermediateSize = 128, int visionHiddenSize = 32, int visionLayers = 2,
        int visionHeads = 2, int patchSize = 14, int maxPositions = 512)
    {
        int imageId = basePieces, padId = basePieces + 1;
        int vocab = (basePieces + 2 + 63) / 64 * 64;
        var vision = new ClipVisionConfig
        {
            HiddenSize = visionHiddenSize, IntermediateSize = visionHiddenSize * 2, NumHiddenLayers = visionLayers,
            NumAttentionHeads = visionHeads, ImageSize = imageSize, PatchSize = patchSize, ProjectionDim = 16,
        };
        return new LlavaConfig
        {
            TextConfig = new LlamaConfig
            {
                VocabSize = vocab, HiddenSize = hiddenSize, IntermediateSize = intermediateSize, NumHiddenLayers = numLayers,
                NumAttentionHeads = numHeads, NumKeyValueHeads = numKvHeads, MaxPositionEmbeddings = maxPositions, RmsNormEps = 1e-5,
                BosTokenId = 1, EosTokenIds = [2], PadTokenId = padId, TorchDtype = "float32",
            },
            VisionConfig = vision,
            ImageTokenIndex = imageId,
            ImageSeqLength = vision.NumPatches,
            PadTokenId = padId,
        }.Validate();
    }

    public static ImageProcessorConfig ProcessorConfig(int imageSize = 28) =>
        new() { ShortestEdge = imageSize, CropHeight = imageSize, CropWidth = imageSize, ImageAspectRatio = "pad" };

    /// <summary>Builds the model (random, from <paramref name="seed"/>) and its tokenizer pieces in memory.</summary>
    /// <param name="seed">weights seed</param>
    /// <param name="words">words that become single tokens (default <see cref="DefaultWords"/>)</param>
    /// <param name="configure">sizes for the config, given the number of tokenizer pieces (default <see cref="Config"/>'s)</param>
    public static (LlavaForConditionalGeneration Model, List<SentencePiece> Pieces) Create(long seed, IEnumerable<string>? words = null,
        Func<int, LlavaConfig>? configure = null)
    {
        var pieces = Vocabulary(words);
        var config = configure?.Invoke(pieces.Count) ?? Config(pieces.Count);
        if (config.ImageTokenIndex < pieces.Count || config.TextConfig.VocabSize < pieces.Count + 2)
            throw new ArgumentException($"config must leave room for the {pieces.Count} pieces + <image> + <pad> (image_token_index {config.ImageTokenIndex}, vocab_size {config.TextConfig.VocabSize})");
        var model = new LlavaForConditionalGeneration(config, ScalarType.Float32, new Generator((ulong)seed));
        model.eval();
        return (model, pieces);
    }

    /// <summary>Writes the directory (weights in at least two shards); returns the paths written.</summary>
    public static IReadOnlyList<string> Write(string dir, long seed, IEnumerable<string>? words = null, Func<int, LlavaConfig>? configure = null)
    {
        var (model, pieces) = Create(seed, words, configure);
        using (model) return Save(dir, model, pieces);
    }

    /// <summary>Saves a model and its tokenizer pieces as an HF llava directory (sharded in three).</summary>
    public static IReadOnlyList<string> Save(string dir, LlavaForConditionalGeneration model, IReadOnlyList<SentencePiece> pieces)
    {
        long total = model.state_dict().Values.Sum(t => t.numel() * t.element_size());
        var written = new List<string>(model.SavePretrained(dir, maxShardBytes: total / 3 + 1));
        var c = model.Config;
        written.AddRange(LlamaTokenizerFiles.Write(dir, pieces,
            [new AddedToken(c.ImageTokenIndex, "<image>"), new AddedToken(c.PadTokenId ?? c.ImageTokenIndex + 1, "<pad>")],
            padToken: "<pad>", modelMaxLength: c.TextConfig.MaxPositionEmbeddings));
        written.Add(PreprocessorConfigWriter.Write(dir, ProcessorConfig(c.VisionConfig.ImageSize)));
        return written;
    }
}
