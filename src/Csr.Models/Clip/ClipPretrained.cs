using Csr.Models.IO;
using Csr.Models.Tokenizers;
using Csr.Models.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Models.Clip;

/// <summary>
/// Everything of an HF CLIP model directory (openai/clip-vit-large-patch14-336 layout) loaded together:
/// <c>config.json</c> + safetensors weights (<see cref="ClipModel.FromPretrained"/>), the BPE tokenizer
/// (<c>vocab.json</c> + <c>merges.txt</c>) and the image processor (<c>preprocessor_config.json</c>, no LLaVA pad:
/// CSR's scorer uses the plain CLIPProcessor). Checks that the tokenizer fits the text tower.
/// </summary>
public sealed class ClipPretrained : IDisposable
{
    public ClipModel Model { get; }
    public ClipTokenizer Tokenizer { get; }
    public ImageProcessor Processor { get; }
    public string Directory { get; }
    public ClipConfig Config => Model.Config;

    private ClipPretrained(ClipModel model, ClipTokenizer tokenizer, ImageProcessor processor, string dir)
    {
        Model = model;
        Tokenizer = tokenizer;
        Processor = processor;
        Directory = dir;
    }

    public static ClipPretrained Load(string dir, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        if (!System.IO.Directory.Exists(dir)) throw new DirectoryNotFoundException($"CLIP model directory not found: {dir}");
        var tokenizer = ClipTokenizer.FromDirectory(dir);
        var processor = ImageProcessor.FromPretrained(dir, imageAspectRatio: "none");
        var config = ClipConfig.FromFile(dir);
        if (tokenizer.VocabSize > config.TextConfig.VocabSize)
            throw new InvalidDataException($"{dir}: {ClipTokenizer.VocabFileName} has {tokenizer.VocabSize} tokens but config.json text_config.vocab_size is {config.TextConfig.VocabSize}");
        if (!config.TextConfig.LegacyEosPooling && config.TextConfig.EosTokenId != tokenizer.EosId)
            throw new InvalidDataException($"{dir}: config.json text_config.eos_token_id is {config.TextConfig.EosTokenId} but {ClipTokenizer.VocabFileName} has {ClipTokenizer.EndToken} = {tokenizer.EosId}");
        var model = ClipModel.FromPretrained(dir, dtype, device);
        return new ClipPretrained(model, tokenizer, processor, dir);
    }

    /// <summary>Pixel values [B, 3, S, S] of image files, in the model's dtype.</summary>
    public Tensor PreprocessImages(IReadOnlyList<string> paths)
    {
        using var scope = NewDisposeScope();
        var dtype = Model.visual_projection.weight!.dtype;
        return Processor.PreprocessBatch(paths).to(dtype, Model.visual_projection.weight!.device).MoveToOuterDisposeScope();
    }

    /// <summary>HF <c>logits_per_image</c> [B_image, B_text] for image files and texts (77-token CLIP encoding).</summary>
    public Tensor LogitsPerImage(IReadOnlyList<string> imagePaths, IReadOnlyList<string> texts)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var pixels = PreprocessImages(imagePaths);
        var (ids, mask) = Tokenizer.EncodeBatch(texts, Config.TextConfig.MaxPositionEmbeddings);
        var device = pixels.device;
        return Model.LogitsPerImage(pixels, ids.to(device), mask.to(device)).to_type(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    public void Dispose() => Model.Dispose();
}
