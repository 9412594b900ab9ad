using System.Text.Json;
using System.Text.Json.Serialization;

namespace Csr.Models.Llama;

/// <summary>
/// Llama decoder configuration with the keys of HF <c>config.json</c> (LlamaConfig).
/// Defaults are HF's LlamaConfig defaults (Llama-2-7B sizes). Validated by <see cref="Validate"/>,
/// which <see cref="FromJson"/>/<see cref="FromFile"/> call.
/// </summary>
public sealed record LlamaConfig
{
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 32000;
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 4096;
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; } = 11008;
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; } = 32;
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; } = 32;
    /// <summary>GQA: number of K/V heads; null means = num_attention_heads (as HF).</summary>
    [JsonPropertyName("num_key_value_heads")] public int? NumKeyValueHeads { get; init; }
    /// <summary>Optional explicit head dim (newer HF configs); null means hidden_size / num_attention_heads.</summary>
    [JsonPropertyName("head_dim")] public int? HeadDimOverride { get; init; }
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 2048;
    [JsonPropertyName("rms_norm_eps")] public double RmsNormEps { get; init; } = 1e-6;
    [JsonPropertyName("rope_theta")] public double RopeTheta { get; init; } = 10000.0;
    [JsonPropertyName("rope_scaling")] public RopeScaling? RopeScaling { get; init; }
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "silu";
    [JsonPropertyName("attention_bias")] public bool AttentionBias { get; init; }
    [JsonPropertyName("mlp_bias")] public bool MlpBias { get; init; }
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; init; }
    [JsonPropertyName("bos_token_id")] public int? BosTokenId { get; init; } = 1;
    /// <summary>HF allows an int or a list; the first id is kept here, all in <see cref="EosTokenIds"/>.</summary>
    [JsonPropertyName("eos_token_id")] [JsonConverter(typeof(IntOrIntArrayConverter))]
    public int[]? EosTokenIds { get; init; } = new[] { 2 };
    [JsonPropertyName("pad_token_id")] public int? PadTokenId { get; init; }
    [JsonPropertyName("torch_dtype")] public string? TorchDtype { get; init; }
    [JsonPropertyName("model_type")] public string? ModelType { get; init; } = "llama";

    /// <summary>First EOS id (null if none).</summary>
    [JsonIgnore] public int? EosTokenId => EosTokenIds is { Length: > 0 } e ? e[0] : null;
    [JsonIgnore] public int KvHeads => NumKeyValueHeads ?? NumAttentionHeads;
    [JsonIgnore] public int HeadDim => HeadDimOverride ?? (NumAttentionHeads > 0 ? HiddenSize / NumAttentionHeads : 0);

    private static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowReadingFromString,
    };

    /// <summary>Reads and validates a config from a JSON element (e.g. llava's <c>text_config</c>).</summary>
    public static LlamaConfig FromJson(JsonElement json, string source = "<json>")
    {
        LlamaConfig? c;
        try { c = json.Deserialize<LlamaConfig>(Options); }
        catch (JsonException ex) { throw new InvalidDataException($"{source}: invalid Llama config: {ex.Message}", ex); }
        if (c is null) throw new InvalidDataException($"{source}: Llama config is null");
        c.Validate(source);
        return c;
    }

    public static LlamaConfig FromJson(string json, string source = "<json>")
    {
        using var doc = ParseDocument(json, source);
        return FromJson(doc.RootElement, source);
    }

    public static LlamaConfig FromFile(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Llama config not found: {path}", path);
        return FromJson(File.ReadAllText(path), path);
    }

    public string ToJson() => JsonSerializer.Serialize(this, Options);

    private static JsonDocument ParseDocument(string json, string source)
    {
        try { return JsonDocument.Parse(json); }
        catch (JsonException ex) { throw new InvalidDataException($"{source}: not valid JSON: {ex.Message}", ex); }
    }

    /// <summary>Throws <see cref="InvalidDataException"/> naming the key when a value is unusable.</summary>
    public LlamaConfig Validate(string source = "<config>")
    {
        void Positive(string key, long v) { if (v <= 0) throw new InvalidDataException($"{source}: '{key}' must be > 0, got {v}"); }
        Positive("vocab_size", VocabSize);
        Positive("hidden_size", HiddenSize);
        Positive("intermediate_size", IntermediateSize);
        Positive("num_hidden_layers", NumHiddenLayers);
        Positive("num_attention_heads", NumAttentionHeads);
        Positive("num_key_value_heads", KvHeads);
        Positive("max_position_embeddings", MaxPositionEmbeddings);
        if (HeadDimOverride is null && HiddenSize % NumAttentionHeads != 0)
            throw new InvalidDataException($"{source}: 'hidden_size' ({HiddenSize}) must be divisible by 'num_attention_heads' ({NumAttentionHeads})");
        if (HeadDim % 2 != 0)
            throw new InvalidDataException($"{source}: head dim {HeadDim} must be even for rotary embeddings");
        if (NumAttentionHeads % KvHeads != 0)
            throw new InvalidDataException($"{source}: 'num_attention_heads' ({NumAttentionHeads}) must be divisible by 'num_key_value_heads' ({KvHeads})");
        if (!(RmsNormEps > 0)) throw new InvalidDataException($"{source}: 'rms_norm_eps' must be > 0, got {RmsNormEps}");
        if (!(RopeTheta > 0)) throw new InvalidDataException($"{source}: 'rope_theta' must be > 0, got {RopeTheta}");
        if (HiddenAct != "silu")
            throw new InvalidDataException($"{source}: 'hidden_act' '{HiddenAct}' is not supported (only 'silu')");
        if (RopeScaling is { } rs)
        {
            switch (rs.Kind)
            {
                case "default": break;
                case "linear":
                case "dynamic":
                    if (rs.Factor is not > 0) throw new InvalidDataException($"{source}: 'rope_scaling.factor' must be > 0 for '{rs.Kind}'");
                    if (rs.Kind == "dynamic" && rs.Factor < 1) throw new InvalidDataException($"{source}: 'rope_scaling.factor' must be >= 1 for 'dynamic'");
                    break;
                case "llama3":
                    if (rs.Factor is not > 0) throw new InvalidDataException($"{source}: 'rope_scaling.factor' must be > 0 for 'llama3'");
                    if (rs.LowFreqFactor is not > 0 || rs.HighFreqFactor is not > 0 || rs.OriginalMaxPositionEmbeddings is not > 0)
                        throw new InvalidDataException($"{source}: 'rope_scaling' of type 'llama3' needs low_freq_factor, high_freq_factor and original_max_position_embeddings > 0");
                    if (rs.HighFreqFactor <= rs.LowFreqFactor)
                        throw new InvalidDataException($"{source}: 'rope_scaling.high_freq_factor' must be > 'low_freq_factor'");
                    break;
                default:
                    throw new InvalidDataException($"{source}: 'rope_scaling' type '{rs.Kind}' is not supported (default, linear, dynamic, llama3)");
            }
        }
        foreach (var (key, id) in new[] { ("bos_token_id", BosTokenId), ("pad_token_id", PadTokenId) })
            if (id is int v && (v < 0 || v >= VocabSize))
                throw new InvalidDataException($"{source}: '{key}' {v} is outside the vocabulary [0, {VocabSize})");
        if (EosTokenIds is { } eos)
            foreach (var v in eos)
                if (v < 0 || v >= VocabSize)
                    throw new InvalidDataException($"{source}: 'eos_token_id' {v} is outside the vocabulary [0, {VocabSize})");
        return this;
    }

    /// <summary>A tiny config for tests and demos.</summary>
    public static LlamaConfig Tiny(int vocab = 64, int hidden = 32, int layers = 2, int heads = 4, int kvHeads = 2, int intermediate = 64)
        => new()
        {
            VocabSize = vocab, HiddenSize = hidden, IntermediateSize = intermediate, NumHiddenLayers = layers,
            NumAttentionHeads = heads, NumKeyValueHeads = kvHeads, MaxPositionEmbeddings = 256, RmsNormEps = 1e-5,
            BosTokenId = 1, EosTokenIds = new[] { 2 }, PadTokenId = 0,
        };
}

/// <summary>Reads an int or an int array (HF <c>eos_token_id</c>); writes a single int when there is one.</summary>
public sealed class IntOrIntArrayConverter : JsonConverter<int[]?>
{
    public override int[]? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Null: return null;
            case JsonTokenType.Number: return new[] { reader.GetInt32() };
            case JsonTokenType.StartArray:
                var list = new List<int>();
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (reader.TokenType != JsonTokenType.Number) throw new JsonException("eos_token_id array must hold integers");
                    list.Add(reader.GetInt32());
                }
                return list.ToArray();
            default: throw new JsonException($"expected an integer or an array of integers, got {reader.TokenType}");
        }
    }

    public override void Write(Utf8JsonWriter writer, int[]? value, JsonSerializerOptions options)
    {
        if (value is null) { writer.WriteNullValue(); return; }
        if (value.Length == 1) { writer.WriteNumberValue(value[0]); return; }
        writer.WriteStartArray();
        foreach (var v in value) writer.WriteNumberValue(v);
        writer.WriteEndArray();
    }
}
