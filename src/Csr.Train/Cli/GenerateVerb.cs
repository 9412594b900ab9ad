using CommandLine;
using Csr.Models.Llava;
using Csr.Native;
using Csr.Train.Pipeline;
using static TorchSharp.torch;

namespace Csr.Train.Cli;

[Verb("generate", HelpText = "Answer a question about an image with a LLaVA model directory (HF llava layout).")]
public sealed class GenerateVerb : ComputeVerbBase, ICliVerb
{
    [Option("model", Required = true, HelpText = "LLaVA model directory (config.json, safetensors, tokenizer.model, preprocessor_config.json).")]
    public string Model { get; set; } = "";

    [Option("image", Required = true, HelpText = "Image file (JPEG/PNG/...).")]
    public string Image { get; set; } = "";

    [Option("prompt", Required = true, HelpText = "The question. '<image>\\n' is put in front unless it already holds <image>.")]
    public string Prompt { get; set; } = "";

    [Option("max-new-tokens", Default = 64, HelpText = "At most this many new tokens.")]
    public int MaxNewTokens { get; set; } = 64;

    [Option("dtype", Default = "auto", HelpText = "Weights dtype: auto (bf16 on CUDA and on CPUs with AVX512_BF16 or AMX-BF16, else fp32), fp32 or bf16.")]
    public string DType { get; set; } = "auto";

    [Option("greedy", HelpText = "Greedy decoding (the default unless --temperature is given).")]
    public bool Greedy { get; set; }

    [Option("temperature", HelpText = "Sample with this temperature instead of greedy decoding.")]
    public double? Temperature { get; set; }

    [Option("top-p", Default = 1.0, HelpText = "Nucleus sampling threshold (with --temperature).")]
    public double TopP { get; set; } = 1.0;

    [Option("seed", Default = 0L, HelpText = "Sampling seed.")]
    public long Seed { get; set; }

    [Option("template", Default = "vicuna_v1", HelpText = "Conversation template: vicuna_v1 (\"curious user\", LLaVA-1.5 / official CSR, as the other verbs) or llava_v1 (\"curious human\").")]
    public string Template { get; set; } = "vicuna_v1";

    [Option("image-aspect-ratio", Default = "pad", HelpText = "Image preprocessing: pad (pad to square with the CLIP mean colour, then resize + center crop: LLaVA's model_vqa with LLaVA-1.5's image_aspect_ratio = pad) or none (resize + center crop only).")]
    public string ImageAspectRatio { get; set; } = "pad";

    [Option("show-ids", HelpText = "Also print the generated token ids.")]
    public bool ShowIds { get; set; }

    /// <summary>Where results go (tests swap it).</summary>
    public TextWriter Output { get; set; } = Console.Out;

    public int Execute()
    {
        if (Greedy && Temperature is not null) throw new CsrUserException("--greedy and --temperature exclude each other");
        if (MaxNewTokens <= 0) throw new CsrUserException($"--max-new-tokens must be positive, got {MaxNewTokens}");
        var aspect = ImageAspectRatioOption.Parse(ImageAspectRatio, "--image-aspect-ratio");
        if (!File.Exists(Image)) throw new CsrUserException($"--image {Image}: file not found");
        var device = ResolveDevice();
        var dtype = StageVerbBase.ParseDType(DType, device);
        var template = PromptTemplate.Parse(Template);
        var human = Prompt.Contains("<image>", StringComparison.Ordinal) ? Prompt : "<image>\n" + Prompt;
        int lastDecile = -1;
        Action<int, int, long, long>? progress = Console.IsErrorRedirected || Quiet ? null : (done, total, bytes, bytesTotal) =>
        {
            int decile = bytesTotal == 0 ? 10 : (int)(bytes * 10 / bytesTotal);
            if (decile == lastDecile) return;
            lastDecile = decile;
            Console.Error.Write($"\rloading weights: {bytes >> 20} / {bytesTotal >> 20} MiB ({done}/{total} tensors)");
            if (done == total) Console.Error.WriteLine();
        };
        using var model = LlavaPretrained.Load(Model, dtype, progress: progress, imageAspectRatio: aspect, device: device);
        using var pixels = model.PreprocessImage(Image);
        var ids = model.GenerateIds(pixels, template.Format(human), MaxNewTokens, Temperature, TopP, Seed);
        var text = model.Tokenizer.Decode(ids).Trim();
        if (Json)
        {
            Output.WriteLine(CliOutput.SummaryJson("generate", new Dictionary<string, object?> { ["text"] = text, ["ids"] = ids }));
            return 0;
        }
        Output.WriteLine(text);
        if (ShowIds) Output.WriteLine("ids: " + string.Join(" ", ids));
        return 0;
    }
}
