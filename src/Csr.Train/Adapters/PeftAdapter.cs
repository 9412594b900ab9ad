using Csr.Models.IO;
using Csr.Models.Lora;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Train.Adapters;

/// <summary>
/// LoRA adapters in the PEFT layout: <c>adapter_config.json</c> + <c>adapter_model.safetensors</c> with
/// names <c>base_model.model.&lt;module path&gt;.lora_A.weight</c> / <c>.lora_B.weight</c>, so Python's
/// <c>PeftModel.from_pretrained</c> loads them. Extra fully-trained tensors (the LLaVA projector) go to
/// <c>non_lora_trainables.safetensors</c> under their model state-dict names, as LLaVA's own LoRA
/// checkpoints keep them apart.
/// </summary>
public static class PeftAdapter
{
    public const string ConfigFile = "adapter_config.json";
    public const string WeightsFile = "adapter_model.safetensors";
    public const string NonLoraFile = "non_lora_trainables.safetensors";
    public const string KeyPrefix = "base_model.model.";

    /// <summary>PEFT name of a LoRA tensor of the layer at <paramref name="modulePath"/> (state-dict path under the model root).</summary>
    public static string KeyFor(string modulePath, string ab) => $"{KeyPrefix}{modulePath}.{ab}.weight";

    public static void Save(nn.Module root, string dir, PeftAdapterConfig config,
        IEnumerable<(string Name, Tensor Tensor)>? nonLora = null)
    {
        var layers = LoraInjector.Enumerate(root).Where(l => l.Module.HasLora).ToList();
        if (layers.Count == 0) throw new ArgumentException($"{dir}: the model has no LoRA adapter to save");
        Directory.CreateDirectory(dir);
        var tensors = new List<(string, Tensor)>();
        foreach (var (path, m) in layers)
        {
            tensors.Add((KeyFor(path, "lora_A"), m.lora_A!.weight!.detach()));
            tensors.Add((KeyFor(path, "lora_B"), m.lora_B!.weight!.detach()));
        }
        SafeTensorsWriter.Write(Path.Combine(dir, WeightsFile), tensors);
        var extra = nonLora?.ToList();
        if (extra is { Count: > 0 }) SafeTensorsWriter.Write(Path.Combine(dir, NonLoraFile), extra.Select(x => (x.Name, x.Tensor.detach())));
        AtomicFile.WriteAllText(Path.Combine(dir, ConfigFile), config.ToJson());
    }

    /// <summary>
    /// Attaches LoRA (from the config) to the target layers that have none yet and loads the adapter weights.
    /// Strict: every target layer must get both tensors and every tensor must belong to a target layer
    /// (errors name the file and key). Returns the config and the non-LoRA tensors, if any (caller disposes).
    /// </summary>
    public static (PeftAdapterConfig Config, IReadOnlyDictionary<string, Tensor> NonLora) Load(nn.Module root, string dir, ScalarType? dtype = null)
    {
        var config = PeftAdapterConfig.FromFile(Path.Combine(dir, ConfigFile));
        string file = Path.Combine(dir, WeightsFile);
        if (!File.Exists(file)) throw new FileNotFoundException($"adapter weights not found: {file}", file);
        var targets = LoraInjector.Select(root, config.TargetModules);
        if (targets.Count == 0) throw new InvalidDataException($"{Path.Combine(dir, ConfigFile)}: target_modules [{string.Join(", ", config.TargetModules)}] match no layer of the model");
        foreach (var (_, m) in targets)
            if (!m.HasLora) m.AttachLora(config.R, config.LoraAlpha, config.LoraDropout, dtype: dtype);
            else if (m.Rank != config.R) throw new InvalidDataException($"{file}: model already has rank-{m.Rank} LoRA, adapter has r = {config.R}");

        var expected = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (path, m) in targets)
        {
            expected[KeyFor(path, "lora_A")] = m.lora_A!.weight!;
            expected[KeyFor(path, "lora_B")] = m.lora_B!.weight!;
        }
        using (var st = SafeTensorsFile.Open(file))
        {
            foreach (var key in st.Keys)
            {
                // PEFT may keep the adapter name ("...lora_A.default.weight"); accept it.
                string k = key.Replace(".lora_A.default.weight", ".lora_A.weight").Replace(".lora_B.default.weight", ".lora_B.weight");
                if (!expected.TryGetValue(k, out var dst))
                    throw new InvalidDataException($"{file}: unexpected tensor {key} (no target LoRA layer has that name)");
                using var src = st.Read(key, dst.dtype);
                if (!src.shape.SequenceEqual(dst.shape))
                    throw new InvalidDataException($"{file}: {key} has shape [{string.Join(",", src.shape)}], expected [{string.Join(",", dst.shape)}]");
                using (no_grad()) dst.copy_(src);
                expected.Remove(k);
            }
        }
        if (expected.Count > 0)
            throw new InvalidDataException($"{file}: missing {expected.Count} tensor(s), e.g. {string.Join(", ", expected.Keys.Take(3))}");

        var nonLora = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        string extra = Path.Combine(dir, NonLoraFile);
        if (File.Exists(extra))
        {
            using var st = SafeTensorsFile.Open(extra);
            foreach (var key in st.Keys) nonLora[key] = st.Read(key, dtype);
        }
        return (config, nonLora);
    }
}
