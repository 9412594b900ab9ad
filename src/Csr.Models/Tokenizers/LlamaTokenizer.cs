using System.Text;
using System.Text.Json;
using Ml = Microsoft.ML.Tokenizers;

namespace Csr.Models.Tokenizers;

/// <summary>
/// Llama SentencePiece tokenizer (from <c>tokenizer.model</c>, through Microsoft.ML.Tokenizers) plus the tokens
/// llava-hf adds on top (<c>&lt;image&gt;</c> 32000, <c>&lt;pad&gt;</c> 32001), as HF's slow LlamaTokenizer
/// (legacy mode) does it: the text is first split on added tokens, each added token becomes its one id, and
/// every other segment is encoded by SentencePiece on its own (with its dummy prefix); BOS is prepended once.
/// So "USER: &lt;image&gt;\nWhat" gives [1, ▁US, ER, :, ▁, 32000, ▁, &lt;0x0A&gt;, What] as llava-hf does.
/// This is also what the original LLaVA code (and so CSR's data) produces: its <c>tokenizer_image_token</c> splits the
/// prompt on "&lt;image&gt;" and tokenizes each chunk on its own. A <c>"legacy": false</c> in tokenizer_config.json
/// (HF's non-legacy slow tokenizer, no dummy prefix after an added token) is not followed.
/// </summary>
public sealed class LlamaTokenizer : ITextTokenizer
{
    public const string ModelFileName = "tokenizer.model";
    public const string ConfigFileName = "tokenizer_config.json";
    public const string AddedTokensFileName = "added_tokens.json";
    public const string SpecialTokensMapFileName = "special_tokens_map.json";

    private readonly Ml.SentencePieceTokenizer _sp;
    private readonly string[] _pieces;                              // base id -> piece
    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<int, AddedToken> _addedById;
    private readonly AddedToken[] _addedByLength;                   // longest first, for matching

    public int BosId { get; }
    public int EosId { get; }
    public int? PadId { get; }
    public int UnkId { get; }
    public int VocabSize { get; }
    /// <summary>Pieces in tokenizer.model (32000 for Llama-2).</summary>
    public int BaseVocabSize => _pieces.Length;
    public IReadOnlyCollection<AddedToken> AddedTokens => _addedById.Values;
    /// <summary>Whether Encode(text) callers should add BOS by default (tokenizer_config add_bos_token).</summary>
    public bool AddBosByDefault { get; }

    private LlamaTokenizer(Ml.SentencePieceTokenizer sp, IEnumerable<AddedToken> added, string? padToken, bool addBos, string source)
    {
        _sp = sp;
        _vocab = sp.Vocabulary.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        int n = _vocab.Count == 0 ? 0 : _vocab.Values.Max() + 1;
        _pieces = new string[n];
        foreach (var (piece, id) in _vocab) _pieces[id] = piece;
        _addedById = new Dictionary<int, AddedToken>();
        foreach (var t in added)
        {
            if (t.Content.Length == 0) throw new InvalidDataException($"{source}: added token {t.Id} has empty content");
            if (t.Id < 0) throw new InvalidDataException($"{source}: added token '{t.Content}' has negative id {t.Id}");
            if (t.Id < n && _pieces[t.Id] != t.Content)
                throw new InvalidDataException($"{source}: added token '{t.Content}' has id {t.Id}, which tokenizer.model already uses for '{_pieces[t.Id]}'");
            if (_addedById.TryGetValue(t.Id, out var other) && other.Content != t.Content)
                throw new InvalidDataException($"{source}: id {t.Id} is given to both '{other.Content}' and '{t.Content}'");
            var clash = _addedById.Values.FirstOrDefault(o => o.Content == t.Content && o.Id != t.Id);
            if (clash != null) throw new InvalidDataException($"{source}: added token '{t.Content}' has two ids, {clash.Id} and {t.Id}");
            _addedById[t.Id] = t;
        }
        _addedByLength = _addedById.Values.OrderByDescending(t => t.Content.Length).ThenBy(t => t.Id).ToArray();
        VocabSize = Math.Max(n, _addedById.Count == 0 ? 0 : _addedById.Keys.Max() + 1);
        BosId = sp.BeginningOfSentenceId;
        EosId = sp.EndOfSentenceId;
        UnkId = sp.UnknownId;
        AddBosByDefault = addBos;
        if (padToken != null)
        {
            PadId = TokenToId(padToken) ?? throw new InvalidDataException($"{source}: pad_token '{padToken}' is neither a piece nor an added token");
        }
    }

    /// <summary>Creates a tokenizer from a tokenizer.model stream and added tokens.</summary>
    public static LlamaTokenizer Create(Stream modelStream, IEnumerable<AddedToken>? addedTokens = null, string? padToken = null,
        bool addBosByDefault = true, string source = ModelFileName)
    {
        Ml.SentencePieceTokenizer sp;
        try
        {
            sp = Ml.LlamaTokenizer.Create(modelStream, addBeginOfSentence: false, addEndOfSentence: false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            throw new InvalidDataException($"{source}: not a valid SentencePiece BPE model ({ex.GetType().Name}: {ex.Message})", ex);
        }
        return new LlamaTokenizer(sp, addedTokens ?? [], padToken, addBosByDefault, source);
    }

    /// <summary>
    /// Loads a HF tokenizer directory: <c>tokenizer.model</c> (required), added tokens from
    /// <c>tokenizer_config.json</c> (<c>added_tokens_decoder</c>) and <c>added_tokens.json</c>, pad token and
    /// <c>add_bos_token</c> from <c>tokenizer_config.json</c> / <c>special_tokens_map.json</c>.
    /// </summary>
    public static LlamaTokenizer FromDirectory(string dir)
    {
        try
        {
            return FromDirectoryCore(dir);
        }
        catch (InvalidOperationException ex)
        {
            // System.Text.Json: wrong value kind or an escaped string that is not valid UTF-16
            throw new InvalidDataException($"{dir}: tokenizer files: {ex.Message}", ex);
        }
    }

    private static LlamaTokenizer FromDirectoryCore(string dir)
    {
        var modelPath = Path.Combine(dir, ModelFileName);
        if (!File.Exists(modelPath)) throw new FileNotFoundException($"{dir}: no {ModelFileName} (the Llama SentencePiece model)", modelPath);
        var added = new Dictionary<int, AddedToken>();
        string? pad = null;
        bool addBos = true;

        var configPath = Path.Combine(dir, ConfigFileName);
        if (File.Exists(configPath))
        {
            using var doc = ParseJson(configPath);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{configPath}: expected a JSON object");
            if (root.TryGetProperty("added_tokens_decoder", out var dec))
            {
                if (dec.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{configPath}: added_tokens_decoder must be an object");
                foreach (var p in dec.EnumerateObject())
                {
                    if (!int.TryParse(p.Name, out int id)) throw new InvalidDataException($"{configPath}: added_tokens_decoder key '{p.Name}' is not an integer id");
                    if (p.Value.ValueKind != JsonValueKind.Object || !p.Value.TryGetProperty("content", out var c) || c.ValueKind != JsonValueKind.String)
                        throw new InvalidDataException($"{configPath}: added_tokens_decoder['{p.Name}'] needs a string 'content'");
                    bool special = !p.Value.TryGetProperty("special", out var s) || s.ValueKind != JsonValueKind.False;
                    added[id] = new AddedToken(id, c.GetString()!, special);
                }
            }
            pad = TokenString(root, "pad_token", configPath);
            if (root.TryGetProperty("add_bos_token", out var ab))
            {
                if (ab.ValueKind is not (JsonValueKind.True or JsonValueKind.False)) throw new InvalidDataException($"{configPath}: add_bos_token must be true or false");
                addBos = ab.GetBoolean();
            }
        }
        var addedPath = Path.Combine(dir, AddedTokensFileName);
        if (File.Exists(addedPath))
        {
            using var doc = ParseJson(addedPath);
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{addedPath}: expected an object of token -> id");
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out int id))
                    throw new InvalidDataException($"{addedPath}: id of '{p.Name}' must be an integer");
                if (added.TryGetValue(id, out var existing) && existing.Content != p.Name)
                    throw new InvalidDataException($"{addedPath}: id {id} is '{p.Name}' here but '{existing.Content}' in {ConfigFileName}");
                var sameContent = added.Values.FirstOrDefault(t => t.Content == p.Name && t.Id != id);
                if (sameContent != null)
                    throw new InvalidDataException($"{addedPath}: '{p.Name}' has id {id} here but {sameContent.Id} in {ConfigFileName}");
                added.TryAdd(id, new AddedToken(id, p.Name, true));
            }
        }
        var mapPath = Path.Combine(dir, SpecialTokensMapFileName);
        if (pad is null && File.Exists(mapPath))
        {
            using var doc = ParseJson(mapPath);
            if (doc.RootElement.ValueKind == JsonValueKind.Object) pad = TokenString(doc.RootElement, "pad_token", mapPath);
        }
        using var fs = File.OpenRead(modelPath);
        return Create(fs, added.Values, pad, addBos, modelPath);
    }

    private static JsonDocument ParseJson(string path) =>
        Csr.Models.IO.JsonFile.Read(path, root => JsonDocument.Parse(root.GetRawText())); // validated (UTF-8, JSON), then owned by the caller

    private static string? TokenString(JsonElement root, string name, string path)
    {
        if (!root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind == JsonValueKind.String) return v.GetString();
        if (v.ValueKind == JsonValueKind.Object && v.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String) return c.GetString();
        throw new InvalidDataException($"{path}: {name} must be a string or an object with 'content'");
    }

    public int[] Encode(string text, bool addBos)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>();
        if (addBos) ids.Add(BosId);
        int start = 0, i = 0;
        while (i < text.Length)
        {
            var match = MatchAdded(text, i);
            if (match is null) { i++; continue; }
            if (i > start) ids.AddRange(EncodeSegment(text[start..i]));
            ids.Add(match.Id);
            i += match.Content.Length;
            start = i;
        }
        if (start < text.Length) ids.AddRange(EncodeSegment(text[start..]));
        return ids.ToArray();
    }

    private AddedToken? MatchAdded(string text, int at)
    {
        foreach (var t in _addedByLength)
            if (string.CompareOrdinal(text, at, t.Content, 0, t.Content.Length) == 0) return t;
        return null;
    }

    private IReadOnlyList<int> EncodeSegment(string segment) =>
        _sp.EncodeToIds(segment, addBeginningOfSentence: false, addEndOfSentence: false, considerPreTokenization: true, considerNormalization: true);

    public string Decode(IEnumerable<int> ids, bool skipSpecial = true)
    {
        var sb = new StringBuilder();
        var run = new List<int>();
        void Flush()
        {
            if (run.Count == 0) return;
            sb.Append(_sp.Decode(run, considerSpecialTokens: !skipSpecial));
            run.Clear();
        }
        foreach (var id in ids)
        {
            if (_addedById.TryGetValue(id, out var t) && id >= _pieces.Length)
            {
                Flush();
                if (!(skipSpecial && t.Special)) sb.Append(t.Content);
                continue;
            }
            if (id < 0) throw new ArgumentOutOfRangeException(nameof(ids), $"token id {id} is negative");
            // ids past the base vocabulary that are no added token (e.g. llava-hf's embedding rows 32002..32063,
            // padding that a model can still sample) have no text, as in HF's fast tokenizer
            if (id >= _pieces.Length) continue;
            if (skipSpecial && (id == BosId || id == EosId || (PadId is int p && id == p))) continue;
            run.Add(id);
        }
        Flush();
        return sb.ToString();
    }

    public int? TokenToId(string token)
    {
        var added = _addedByLength.FirstOrDefault(t => t.Content == token);
        if (added != null) return added.Id;
        return _vocab.TryGetValue(token, out var id) ? id : null;
    }

    /// <summary>The piece or added-token text of an id, or null.</summary>
    public string? IdToToken(int id) =>
        _addedById.TryGetValue(id, out var t) ? t.Content : id >= 0 && id < _pieces.Length ? _pieces[id] : null;
}
