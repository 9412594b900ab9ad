using CommandLine;
using Csr.Train.Pipeline;
using Csr.Train.Sampling;
using static TorchSharp.torch;

namespace Csr.Train.Cli;

/// <summary>Options of every CSR stage verb that reads prompt images and a model (sample, score, dpo, run).</summary>
public abstract class StageVerbBase : ComputeVerbBase
{
    [Option("images", HelpText = "Image directory; a prompt's \"image\" field is relative to it.")]
    public string? Images { get; set; }

    [Option("image-prefix", Default = "", HelpText = "Prefix added to each image file name (the official scripts use COCO_train2014_).")]
    public string ImagePrefix { get; set; } = "";

    [Option("fused", Default = false, HelpText = "Use the fused Csr.Kernels ops (beam step, DPO log-ratio, CLIP pair scores, sibling ranks); CSR_KERNEL_PATH=fused|ilgpu|cuda|reference picks the path; each stage writes kernels.json.")]
    public bool Fused { get; set; }

    [Option("dtype", Default = "auto", HelpText = "Weights dtype: auto (bf16 on CUDA and on CPUs with AVX512_BF16 or AMX-BF16, else fp32), fp32 or bf16.")]
    public string DType { get; set; } = "auto";

    [Option("limit", HelpText = "Use only the first N prompts of the file.")]
    public int? Limit { get; set; }

    public ImagePathRule ImageRule()
    {
        if (string.IsNullOrEmpty(Images)) throw new CsrUserException("--images DIR is required");
        if (!Directory.Exists(Images)) throw new CsrUserException($"--images {Images}: directory not found");
        return new ImagePathRule(Images, ImagePrefix);
    }

    public ScalarType ScalarType(Device device) => ParseDType(DType, device);

    /// <summary>The weights dtype of a --dtype value on <paramref name="device"/>: auto (bf16 on CUDA and on CPUs with AVX512_BF16 or AMX-BF16, else fp32), fp32 or bf16.</summary>
    public static ScalarType ParseDType(string value, Device device)
    {
        try { return ResolveDType(value, device); }
        catch (ArgumentException ex) { throw new CsrUserException(ex.Message); }
    }
}

/// <summary>Options of the stage verbs that put prompts through the LLaVA chat template (sample, dpo, run).</summary>
public abstract class PromptStageVerbBase : StageVerbBase
{
    [Option("template", Default = "vicuna_v1", HelpText = "Prompt template: vicuna_v1 (LLaVA-1.5 / official CSR) or llava_v1.")]
    public string Template { get; set; } = "vicuna_v1";

    [Option("seed", Default = 42L, HelpText = "Seed for everything random.")]
    public long Seed { get; set; } = 42;

    public PromptTemplate PromptTemplate() => Pipeline.PromptTemplate.Parse(Template);
}

/// <summary>
/// Sampling options of sample and run (official defaults). They sit on an interface so that run, a DPO verb too,
/// can carry them; each verb implements the properties with these defaults.
/// </summary>
public interface ISamplingVerb
{
    [Option("num-beams", Default = 5, HelpText = "Sentence-level beams: keep top num_beams/2-1 and bottom num_beams/2 live children.")]
    int NumBeams { get; set; }

    [Option("num-beam-groups", Default = 5, HelpText = "Diverse beam search groups.")]
    int NumBeamGroups { get; set; }

    [Option("num-token-beams", Default = 5, HelpText = "Token-level beams = children per node.")]
    int NumTokenBeams { get; set; }

    [Option("diversity-penalty", Default = 3.0, HelpText = "Hamming diversity penalty.")]
    double DiversityPenalty { get; set; }

    [Option("max-new-tokens", Default = 70, HelpText = "Max tokens per sentence.")]
    int MaxNewTokens { get; set; }

    [Option("max-length", Default = 1024, HelpText = "A node whose text reaches this many characters is final.")]
    int MaxLength { get; set; }

    [Option("sentence-end-id", HelpText = "Sentence-end token id (default: the tokenizer's '.', 29889 for Llama).")]
    int? SentenceEndId { get; set; }

    [Option("no-prefix-cache", Default = false, HelpText = "Re-encode image and prefix for every node, like the official code.")]
    bool NoPrefixCache { get; set; }

    [Option("no-node-batch", Default = false, HelpText = "Run the nodes of one depth one at a time.")]
    bool NoNodeBatch { get; set; }

    [Option("batch-prompts", HelpText = "Prompts whose trees advance together in one batch (prefix-cache mode; a finished tree's slot takes the next prompt). 1 = one prompt at a time; default up to 16 on a CPU and 32 on a GPU, fewer when their KV caches would pass 2 GiB / 16 GiB. In run, also the prompts per CLIP scoring batch (default 8).")]
    int? BatchPrompts { get; set; }
}

public static class SamplingVerbExtensions
{
    public static SampleOptions SampleOptions(this ISamplingVerb v, bool fused) => new()
    {
        NumBeams = v.NumBeams, NumBeamGroups = v.NumBeamGroups, NumTokenBeams = v.NumTokenBeams, DiversityPenalty = v.DiversityPenalty,
        MaxNewTokens = v.MaxNewTokens, MaxLength = v.MaxLength, SentenceEndId = v.SentenceEndId, PrefixCache = !v.NoPrefixCache,
        BatchNodes = !v.NoNodeBatch, BatchPrompts = v.BatchPrompts, Fused = fused,
    };
}
