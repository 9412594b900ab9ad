using Csr.Train.Adapters;
using Csr.Train.Models;
using Csr.Train.Pipeline;

namespace Csr.Train.Dpo;

/// <summary>What the dpo stage produced.</summary>
public sealed record DpoStageResult(DpoResult Training, string AdapterDir, int Pairs);

/// <summary>
/// dpo: preference pairs -> LoRA DPO on the LLaVA model (in place) -> adapter in the PEFT layout at
/// <c>&lt;out&gt;/adapter</c> (projector in non_lora_trainables.safetensors).
/// </summary>
public static class DpoStage
{
    public const string AdapterDirName = "adapter";

    public static DpoStageResult Run(VisionLanguageModel vlm, IReadOnlyList<PreferencePair> pairs, string outDir,
        DpoOptions options, PromptTemplate template, ImagePathRule images, bool resume,
        Action<DpoStepLog>? onStep = null, Action<int, int>? onReference = null, int maxLength = 1024)
    {
        var examples = DpoDataset.Build(pairs, vlm, template, images, Math.Min(maxLength, vlm.MaxPositions));
        var policy = new LlavaDpoModel(vlm, options);
        var trainer = new DpoTrainer(policy, options, outDir) { OnStep = onStep, OnReference = onReference };
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
