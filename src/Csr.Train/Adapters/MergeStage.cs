using Csr.Models.IO;
using Csr.Models.Lora;
using Csr.Native.Profiling;
using Csr.Train.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Train.Adapters;

/// <summary>
/// merge: base + adapter -> a full HF llava checkpoint (the next round's base): W += (lora_alpha / r) B A
/// for every adapted layer, the trained projector copied in, weights written in the llava-hf layout with the
/// base directory's tokenizer and preprocessor files.
/// </summary>
public static class MergeStage
{
    /// <summary>Loads an adapter into the model (attaching LoRA) and copies its non-LoRA tensors (the projector) in.</summary>
    public static PeftAdapterConfig LoadAdapter(VisionLanguageModel vlm, string adapterDir)
    {
        var (config, extra) = PeftAdapter.Load(vlm.Model, adapterDir);
        var pars = vlm.Model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, t) in extra)
        {
            if (!pars.TryGetValue(name, out var p))
                throw new InvalidDataException($"{Path.Combine(adapterDir, PeftAdapter.NonLoraFile)}: tensor {name} is not a parameter of the model");
            if (!p.shape.SequenceEqual(t.shape))
                throw new InvalidDataException($"{Path.Combine(adapterDir, PeftAdapter.NonLoraFile)}: {name} has shape [{string.Join(",", t.shape)}], the model has [{string.Join(",", p.shape)}]");
            using (no_grad()) p.copy_(t);
            t.Dispose();
        }
        return config;
    }

    /// <summary>Merges every LoRA adapter into its weight, in place; returns how many layers were merged.</summary>
    public static int MergeInPlace(VisionLanguageModel vlm)
    {
        using var range = Nvtx.Range("merge");
        return LoraInjector.MergeAll(vlm.Model);
    }

    /// <summary>Writes the (merged) model as an HF directory, copying tokenizer / processor files from <paramref name="filesFrom"/>.</summary>
    public static void Save(VisionLanguageModel vlm, string outDir, string? filesFrom)
    {
        using var range = Nvtx.Range("merge save");
        if (LoraInjector.Enumerate(vlm.Model).Any(l => l.Module.HasLora))
            throw new InvalidOperationException("merge the LoRA adapters before saving a full checkpoint");
        string tmp = outDir.TrimEnd('/', '\\') + $".{Environment.ProcessId}.tmp";
        if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        vlm.Model.SavePretrained(tmp);
        if (filesFrom != null && Directory.Exists(filesFrom))
            foreach (var f in Directory.GetFiles(filesFrom))
            {
                string name = Path.GetFileName(f);
                if (name == "config.json" || name.EndsWith(".safetensors") || name.EndsWith(".bin") || name == "model.safetensors.index.json") continue;
                File.Copy(f, Path.Combine(tmp, name), overwrite: true);
            }
        if (Directory.Exists(outDir)) Directory.Delete(outDir, true);
        Directory.Move(tmp, outDir);
    }

    /// <summary>
    /// The CLI path: load base (on <paramref name="device"/>, default CPU), load adapter, merge, save into
    /// <paramref name="outDir"/> shard by shard (each shard atomically; <see cref="MergeProgress"/> records them), so a
    /// rerun after an interruption writes only the shards still missing; config.json is written last, after the
    /// weights and the index.
    /// </summary>
    public static MergeResult Run(string modelDir, string adapterDir, string outDir, ScalarType dtype = ScalarType.Float32,
        long maxShardBytes = CheckpointWriter.DefaultMaxShardBytes, Device? device = null)
    {
        string inputs = MergeProgress.InputsKey(modelDir, adapterDir, dtype.ToString(), maxShardBytes);
        using var vlm = VisionLanguageModel.Load(modelDir, dtype, device);
        LoadAdapter(vlm, adapterDir);
        int n = MergeInPlace(vlm);
        var progress = MergeProgress.Open(outDir, inputs);
        foreach (var f in Directory.GetFiles(modelDir))
        {
            string name = Path.GetFileName(f);
            if (name == "config.json" || name.EndsWith(".safetensors") || name.EndsWith(".bin") || name == "model.safetensors.index.json") continue;
            AtomicFile.Copy(f, Path.Combine(outDir, name));
        }
        var files = CheckpointWriter.Save(vlm.Model.state_dict().Select(kv => (kv.Key, kv.Value)), outDir,
            maxShardBytes, textFiles: new Dictionary<string, string> { ["config.json"] = vlm.Model.Config.ToJson() },
            shardWritten: progress.TryKeep, onShardWritten: progress.MarkWritten);
        int shards = files.Count(f => f.EndsWith(".safetensors", StringComparison.Ordinal));
        return new MergeResult(n, shards, progress.Kept);
    }
}

/// <summary>What a merge did: LoRA layers merged, weight shards of the output, shards kept from an interrupted run.</summary>
public sealed record MergeResult(int Layers, int Shards, int SkippedShards);
