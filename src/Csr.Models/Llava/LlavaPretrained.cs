using Csr.Models.Generation;
using Csr.Models.IO;
using Csr.Models.Tokenizers;
using Csr.Models.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Models.Llava;

/// <summary>
/// Everything of an HF llava directory (llava-hf/llava-1.5-7b-hf layout) loaded together: <c>config.json</c> +
/// safetensors weights (single or sharded, any of the three naming schemes) via
/// <see cref="LlavaForConditionalGeneration.FromPretrained"/>, the Llama tokenizer with its added tokens
/// (<c>tokenizer.model</c>, <c>tokenizer_config.json</c>, <c>added_tokens.json</c>) and the image processor
/// (<c>preprocessor_config.json</c> + LLaVA-1.5's pad to square). Checks before loading that the weights fit in
/// memory, and after that the tokenizer agrees with the config (image token id, vocabulary size).
/// </summary>
public sealed class LlavaPretrained : IDisposable
{
    public LlavaForConditionalGeneration Model { get; }
    public LlamaTokenizer Tokenizer { get; }
    public ImageProcessor Processor { get; }
    public string Directory { get; }
    public LlavaConfig Config => Model.Config;
    /// <summary>dtype of the language model's weights (what <see cref="Load"/> was given).</summary>
    public ScalarType DType { get; }

    private LlavaPretrained(LlavaForConditionalGeneration model, LlamaTokenizer tokenizer, ImageProcessor processor, string dir, ScalarType dtype)
    {
        Model = model;
        Tokenizer = tokenizer;
        Processor = processor;
        Directory = dir;
        DType = dtype;
    }

    /// <param name="dir">the model directory</param>
    /// <param name="dtype">weights dtype (Float32 or BFloat16 on CPU; Float16 checkpoints convert on load)</param>
    /// <param name="checkMemory">refuse up front (InsufficientMemoryException) when the weights cannot fit in free memory</param>
    /// <param name="progress">called after each tensor: (tensors done, total, bytes done, bytes total)</param>
    /// <param name="imageAspectRatio">LLaVA's image_aspect_ratio for <see cref="Processor"/>: "pad" (LLaVA-1.5's model
    /// config) or "none"</param>
    /// <param name="device">where the weights live (default CPU); they are created there and loaded in bounded chunks</param>
    public static LlavaPretrained Load(string dir, ScalarType dtype = ScalarType.Float32, bool checkMemory = true,
        Action<int, int, long, long>? progress = null, string imageAspectRatio = "pad", Device? device = null)
    {
        if (!System.IO.Directory.Exists(dir)) throw new DirectoryNotFoundException($"LLaVA model directory not found: {dir}");
        var config = LlavaConfig.FromFile(dir);
        var tokenizer = LlamaTokenizer.FromDirectory(dir);
        var imageId = tokenizer.TokenToId("<image>");
        if (imageId != config.ImageTokenIndex)
            throw new InvalidDataException($"{dir}: config.json has image_token_index {config.ImageTokenIndex} but the tokenizer files " +
                (imageId is int i ? $"give '<image>' the id {i}" : "have no '<image>' token (tokenizer_config.json added_tokens_decoder / added_tokens.json)"));
        if (tokenizer.VocabSize > config.TextConfig.VocabSize)
            throw new InvalidDataException($"{dir}: the tokenizer has {tokenizer.VocabSize} ids but config.json text_config.vocab_size is {config.TextConfig.VocabSize}");
        var processor = ImageProcessor.FromPretrained(dir, imageAspectRatio);
        // host memory is what a CPU model needs; a GPU model only passes through a 16 MB host chunk
        bool onCpu = device is null || device.type == DeviceType.CPU;
        if (checkMemory && onCpu) CheckpointMemory.EnsureFits(dir, dtype);
        var model = LlavaForConditionalGeneration.FromPretrained(dir, dtype, device, progress);
        return new LlavaPretrained(model, tokenizer, processor, dir, dtype);
    }

    /// <summary>Prompt ids: BOS + the tokenized prompt, each "&lt;image&gt;" expanded to image_seq_length image tokens.</summary>
    public int[] EncodePrompt(string prompt) => Model.ExpandImageTokens(Tokenizer.Encode(prompt, addBos: true));

    /// <summary>Pixel values [1, 3, S, S] of an image file (LLaVA pad + CLIP processing), in the vision tower's dtype.</summary>
    public Tensor PreprocessImage(string imagePath)
    {
        using var scope = NewDisposeScope();
        var dtype = Model.multi_modal_projector.linear_1.weight!.dtype;
        return Processor.Preprocess(imagePath).unsqueeze(0).to(dtype, Model.Device).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Generates from a prompt (containing one "&lt;image&gt;" per image) and pixel values [B_img, 3, S, S]:
    /// greedy when <paramref name="temperature"/> is null, else sampling (temperature, top-p). Stops at EOS or after
    /// <paramref name="maxNewTokens"/>. Returns the new ids (EOS included when it ended the answer).
    /// </summary>
    public int[] GenerateIds(Tensor? pixelValues, string prompt, int maxNewTokens = 64, double? temperature = null,
        double topP = 1.0, long seed = 0)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var ids = EncodePrompt(prompt);
        var device = Model.Device;
        var idsT = tensor(ids.Select(i => (long)i).ToArray(), new long[] { 1, ids.Length }, device: device);
        var features = pixelValues is null ? null : Model.EncodeImages(pixelValues);
        var embeds = Model.EmbedInputs(idsT, features);
        var mask = ones(1, ids.Length, dtype: ScalarType.Int64, device: device);
        using var start = GenerationStart.Prefill(Model, embeds, mask);
        var stop = new[] { Tokenizer.EosId };
        var output = temperature is double t
            ? Decoding.Sample(Model, start, new SamplingOptions { MaxNewTokens = maxNewTokens, StopTokenIds = stop, Temperature = t, TopP = topP }.Validate(),
                new Generator((ulong)seed))
            : Decoding.Greedy(Model, start, maxNewTokens, stop);
        return output.Tokens[0];
    }

    /// <summary>The answer text for an image file and a prompt (see <see cref="GenerateIds"/>).</summary>
    public string Generate(string imagePath, string prompt, int maxNewTokens = 64, double? temperature = null, double topP = 1.0, long seed = 0)
    {
        using var pixels = PreprocessImage(imagePath);
        return Tokenizer.Decode(GenerateIds(pixels, prompt, maxNewTokens, temperature, topP, seed)).Trim();
    }

    public void Dispose() => Model.Dispose();
}
