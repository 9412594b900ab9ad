using Csr.Native.Profiling;
using Csr.Train.Adapters;
using Csr.Train.Models;
using Csr.Train.Pipeline;

namespace Csr.Train.Dpo;

/// <summary>What the dpo stage produced.</summary>
public sealed record DpoStageResult(DpoResult Training, string AdapterDir, int Pairs);

/// <summary>
/// dpo: preference pairs -> LoRA DPO on the LLaVA model (in place) -> adapter in the PEFT layout at
/// <c>&lt;out&gt;/adapter</c> (projector in non_lora_trainables.safetensors). The reference cache and the
/// checkpoints are keyed by the model's weights (<paramref name="modelPath"/>'s files, default the model's
/// source directory, or the tensors of a model built in memory), dtype, template and image preprocessing.
/// </summary>
public static class DpoStage
{
    public const string AdapterDirName = "adapter";

    public static DpoStageResult Run(VisionLanguageModel vlm, IReadOnlyList<PreferencePair> pairs, string outDir,
        DpoOptions options, PromptTemplate template, ImagePathRule images, bool resume,
        Action<DpoStepLog>? onStep = null, Action<int, int>? onReference = null, int maxLength = 1024,
        string? modelPath = null, Action<string>? onNotice = null)
    {
        using var range = Nvtx.Range("dpo");
        var examples = DpoDataset.Build(pairs, vlm, template, images, Math.Min(maxLength, vlm.MaxPositions));
        var identity = DpoIdentity.ForReference(vlm, template, modelPath, options.ImageAspectRatio); // before LoRA is attached
        var policy = new LlavaDpoModel(vlm, options);
        var trainer = new DpoTrainer(policy, options, outDir) { OnStep = onStep, OnReference = onReference, OnNotice = onNotice, Identity = identity };
        Csr.Kernels.KernelStats.Reset();
        DpoResult result;
        try { result = trainer.Train(examples, resume); }
        finally { Csr.Kernels.KernelStats.Snapshot().Write(outDir); } // the ops training ran: kernels.json
        string adapterDir = Path.Combine(outDir, AdapterDirName);
        var config = new PeftAdapterConfig
        {
            BaseModelNameOrPath = vlm.Source,
            R = options.LoraR,
            LoraAlpha = options.LoraAlpha,
            LoraDropout = options.LoraDropout,
            TargetModules = LlavaDpoModel.Targets.ToList(),
        };
        PeftAdapter.Save(vlm.Model, adapterDir, config, options.ProjectorLearningRate > 0 ? policy.ProjectorTensors : null);
        vlm.Model.eval();
        return new DpoStageResult(result, adapterDir, examples.Count);
    }
}
