using System.Text.Json;
using System.Text.Json.Serialization;

namespace Csr.Train.Adapters;

/// <summary>PEFT's adapter_config.json for a LoRA adapter (the keys PEFT reads).</summary>
public sealed record PeftAdapterConfig
{
    [JsonPropertyName("base_model_name_or_path")] public string? BaseModelNameOrPath { get; init; }
    [JsonPropertyName("peft_type")] public string PeftType { get; init; } = "LORA";
    [JsonPropertyName("task_type")] public string TaskType { get; init; } = "CAUSAL_LM";
    [JsonPropertyName("r")] public int R { get; init; } = 128;
    [JsonPropertyName("lora_alpha")] public double LoraAlpha { get; init; } = 256;
    [JsonPropertyName("lora_dropout")] public double LoraDropout { get; init; } = 0.05;
    [JsonPropertyName("target_modules")] public IReadOnlyList<string> TargetModules { get; init; } = [];
    [JsonPropertyName("bias")] public string Bias { get; init; } = "none";
    [JsonPropertyName("fan_in_fan_out")] public bool FanInFanOut { get; init; }
    [JsonPropertyName("inference_mode")] public bool InferenceMode { get; init; } = true;
    [JsonPropertyName("init_lora_weights")] public bool InitLoraWeights { get; init; } = true;
    [JsonPropertyName("modules_to_save")] public IReadOnlyList<string>? ModulesToSave { get; init; }

    static readonly JsonSerializerOptions Options = new() { WriteIndented = true };

    public string ToJson() => JsonSerializer.Serialize(this, Options);

    public static PeftAdapterConfig FromFile(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"adapter config not found: {path}", path);
        PeftAdapterConfig? c;
        try { c = JsonSerializer.Deserialize<PeftAdapterConfig>(File.ReadAllText(path)); }
        catch (JsonException ex) { throw new InvalidDataException($"{path}: malformed adapter_config.json: {ex.Message}", ex); }
        if (c == null) throw new InvalidDataException($"{path}: empty adapter config");
        if (c.PeftType != "LORA") throw new InvalidDataException($"{path}: peft_type is \"{c.PeftType}\", only LORA is supported");
        if (c.R < 1) throw new InvalidDataException($"{path}: r = {c.R}, must be >= 1");
        if (c.TargetModules.Count == 0) throw new InvalidDataException($"{path}: target_modules is empty");
        if (c.FanInFanOut) throw new InvalidDataException($"{path}: fan_in_fan_out = true is not supported");
        return c;
    }
}
