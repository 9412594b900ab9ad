using CommandLine;
using Csr.Train.Pipeline;
using Csr.Train.Sampling;
using static TorchSharp.torch;

namespace Csr.Train.Cli;

/// <summary>Options shared by the CSR stage verbs (sample, score, dpo, run).</summary>
public abstract class StageVerbBase
{
    [Option("images", HelpText = "Image directory; a prompt's \"image\" field is relative to it.")]
    public string? Images { get; set; }

    [Option("image-prefix", Default = "", HelpText = "Prefix added to each image file name (the official scripts use COCO_train2014_).")]
    public string ImagePrefix { get; set; } = "";

    [Option("template", Default = "vicuna_v1", HelpText = "Prompt template: vicuna_v1 (LLaVA-1.5 / official CSR) or llava_v1.")]
    public string Template { get; set; } = "vicuna_v1";

    [Option("seed", Default = 42L, HelpText = "Seed for everything random.")]
    public long Seed { get; set; } = 42;

    [Option("fused", Default = false, HelpText = "Use the fused Csr.Kernels ops (beam step, DPO log-ratio, CLIP pair scores, sibling ranks); CSR_KERNEL_PATH=fused|ilgpu|cuda|reference picks the path; each stage writes kernels.json.")]
    public bool Fused { get; set; }

    [Option("dtype", Default = "fp32", HelpText = "Weights dtype: fp32 or bf16.")]
    public string DType { get; set; } = "fp32";

    [Option("limit", HelpText = "Use only the first N prompts of the file.")]
    public int? Limit { get; set; }

    public ImagePathRule ImageRule()
    {
        if (string.IsNullOrEmpty(Images)) throw new CsrUserException("--images DIR is required");
        if (!Directory.Exists(Images)) throw new CsrUserException($"--images {Images}: directory not found");
        return new ImagePathRule(Images, ImagePrefix);
    }

    public PromptTemplate PromptTemplate() => Pipeline.PromptTemplate.Parse(Template);

    public ScalarType ScalarType() => DType.ToLowerInvariant() switch
    {
        "fp32" or "float32" => TorchSharp.torch.ScalarType.Float32,
        "bf16" or "bfloat16" => TorchSharp.torch.ScalarType.BFloat16,
        _ => throw new CsrUserException($"--dtype {DType}: expected fp32 or bf16"),
    };
}

/// <summary>Sampling options shared by sample and run (official defaults).</summary>
public abstract class SamplingVerbBase : StageVerbBase
{
    [Option("num-beams", Default = 5, HelpText = "Sentence-level beams: keep top num_beams/2-1 and bottom num_beams/2 live children.")]
    public int NumBeams { get; set; } = 5;

    [Option("num-beam-groups", Default = 5, HelpText = "Diverse beam search groups.")]
    public int NumBeamGroups { get; set; } = 5;

    [Option("num-token-beams", Default = 5, HelpText = "Token-level beams = children per node.")]
    public int NumTokenBeams { get; set; } = 5;

    [Option("diversity-penalty", Default = 3.0, HelpText = "Hamming diversity penalty.")]
    public double DiversityPenalty { get; set; } = 3.0;

    [Option("max-new-tokens", Default = 70, HelpText = "Max tokens per sentence.")]
    public int MaxNewTokens { get; set; } = 70;

    [Option("max-length", Default = 1024, HelpText = "A node whose text reaches this many characters is final.")]
    public int MaxLength { get; set; } = 1024;

    [Option("sentence-end-id", HelpText = "Sentence-end token id (default: the tokenizer's '.', 29889 for Llama).")]
    public int? SentenceEndId { get; set; }

    [Option("no-prefix-cache", Default = false, HelpText = "Re-encode image and prefix for every node, like the official code.")]
    public bool NoPrefixCache { get; set; }

    [Option("no-node-batch", Default = false, HelpText = "Run the nodes of one depth one at a time.")]
    public bool NoNodeBatch { get; set; }

    public SampleOptions SampleOptions() => new()
    {
        NumBeams = NumBeams, NumBeamGroups = NumBeamGroups, NumTokenBeams = NumTokenBeams, DiversityPenalty = DiversityPenalty,
        MaxNewTokens = MaxNewTokens, MaxLength = MaxLength, SentenceEndId = SentenceEndId, PrefixCache = !NoPrefixCache,
        BatchNodes = !NoNodeBatch, Fused = Fused,
    };
}
