using Csr.Models.Llava;
using Csr.Models.Tokenizers;
using Csr.Models.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Train.Models;

/// <summary>
/// A loaded LVLM as the CSR stages use it: the LLaVA model, its tokenizer and image processor. Built from a
/// model directory (<see cref="Load"/>) or handed over in memory (the demo world passes its own).
/// </summary>
public sealed class VisionLanguageModel : IDisposable
{
    public VisionLanguageModel(LlavaForConditionalGeneration model, ITextTokenizer tokenizer, ImageProcessor images, string? source = null)
    {
        Model = model;
        Tokenizer = tokenizer;
        Images = images;
        Source = source;
    }

    public LlavaForConditionalGeneration Model { get; }
    public ITextTokenizer Tokenizer { get; }
    public ImageProcessor Images { get; }
    /// <summary>The directory it was loaded from (null when built in memory).</summary>
    public string? Source { get; }
    /// <summary>Where the model's weights live; stages create their tensors here.</summary>
    public Device Device => Model.Device;

    /// <summary>
    /// Loads config, weights, tokenizer and preprocessor from an HF llava directory through
    /// <see cref="LlavaPretrained.Load"/> (memory check before loading, tokenizer-vs-config checks).
    /// </summary>
    public static VisionLanguageModel Load(string dir, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        var p = LlavaPretrained.Load(dir, dtype, device: device);
        return new VisionLanguageModel(p.Model, p.Tokenizer, p.Processor, dir);
    }

    /// <summary>Prompt token ids with the image marker expanded to one id per image feature.</summary>
    public long[] PromptIds(string promptText) =>
        Model.ExpandImageTokens(Tokenizer.Encode(promptText, addBos: true)).Select(i => (long)i).ToArray();

    /// <summary>Sequence log-probs need every id of the vocabulary to be an embedding row.</summary>
    public int MaxPositions => Model.Config.TextConfig.MaxPositionEmbeddings;

    public void Dispose() => Model.Dispose();
}
