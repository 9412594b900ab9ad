using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Models.Tokenizers;

/// <summary>
/// CLIP's byte-level BPE tokenizer (openai CLIP / HF CLIPTokenizer without ftfy), from <c>vocab.json</c> +
/// <c>merges.txt</c>:
/// clean (NFC, control characters dropped, whitespace collapsed, trimmed, CJK characters spaced) and lower-case;
/// split with CLIP's pattern (<c>&lt;|startoftext|&gt;</c>, <c>&lt;|endoftext|&gt;</c>, 's 't 're 've 'm 'll 'd,
/// letter runs, single digits, runs of other non-space characters); map each piece's UTF-8 bytes to the
/// byte-level alphabet; BPE with <c>&lt;/w&gt;</c> on the last symbol, merging the lowest-ranked pair first;
/// wrap in <c>&lt;|startoftext|&gt;</c> ... <c>&lt;|endoftext|&gt;</c>. <see cref="EncodeBatch"/> truncates to
/// <c>maxLength</c> keeping the end token, pads with the pad token, and returns ids and attention mask.
/// </summary>
public sealed partial class ClipTokenizer : ITextTokenizer
{
    public const string VocabFileName = "vocab.json";
    public const string MergesFileName = "merges.txt";
    public const string StartToken = "<|startoftext|>";
    public const string EndToken = "<|endoftext|>";
    public const string EndOfWord = "</w>";

    [GeneratedRegex(@"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+", RegexOptions.IgnoreCase)]
    private static partial Regex Pattern();

    private readonly Dictionary<string, int> _encoder;
    private readonly string[] _decoder;
    private readonly Dictionary<(string, string), int> _ranks;
    private readonly Dictionary<string, string[]> _cache = new(StringComparer.Ordinal);

    public int BosId { get; }
    public int EosId { get; }
    public int? PadId { get; }
    public int UnkId { get; }
    public int VocabSize => _decoder.Length;

    public ClipTokenizer(IReadOnlyDictionary<string, int> vocab, IEnumerable<(string Left, string Right)> merges,
        string padToken = EndToken, string unkToken = EndToken, string source = "CLIP tokenizer")
    {
        _encoder = new Dictionary<string, int>(vocab, StringComparer.Ordinal);
        if (_encoder.Count == 0) throw new InvalidDataException($"{source}: empty vocabulary");
        int n = _encoder.Values.Max() + 1;
        if (_encoder.Values.Min() < 0) throw new InvalidDataException($"{source}: negative token id");
        _decoder = new string[n];
        foreach (var (tok, id) in _encoder)
        {
            if (_decoder[id] != null) throw new InvalidDataException($"{source}: id {id} is used by both '{_decoder[id]}' and '{tok}'");
            _decoder[id] = tok;
        }
        _ranks = new Dictionary<(string, string), int>();
        int rank = 0;
        foreach (var m in merges) _ranks.TryAdd(m, rank++);
        BosId = Required(StartToken, source);
        EosId = Required(EndToken, source);
        UnkId = Required(unkToken, source);
        PadId = Required(padToken, source);
    }

    private int Required(string token, string source) =>
        _encoder.TryGetValue(token, out var id) ? id : throw new InvalidDataException($"{source}: the vocabulary has no '{token}'");

    /// <summary>Loads <c>vocab.json</c> + <c>merges.txt</c> (and the pad token from tokenizer_config.json / special_tokens_map.json when present).</summary>
    public static ClipTokenizer FromDirectory(string dir)
    {
        var vocabPath = Path.Combine(dir, VocabFileName);
        var mergesPath = Path.Combine(dir, MergesFileName);
        if (!File.Exists(vocabPath)) throw new FileNotFoundException($"{dir}: no {VocabFileName} (CLIP BPE vocabulary)", vocabPath);
        if (!File.Exists(mergesPath)) throw new FileNotFoundException($"{dir}: no {MergesFileName} (CLIP BPE merges)", mergesPath);
        var vocab = ReadVocab(vocabPath);
        var merges = ReadMerges(mergesPath);
        string pad = EndToken;
        foreach (var f in new[] { "tokenizer_config.json", "special_tokens_map.json" })
        {
            var p = Path.Combine(dir, f);
            if (!File.Exists(p)) continue;
            var found = Csr.Models.IO.JsonFile.Read(p, root =>
            {
                if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("pad_token", out var v))
                {
                    if (v.ValueKind == JsonValueKind.String) return v.GetString();
                    if (v.ValueKind == JsonValueKind.Object && v.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String) return c.GetString();
                }
                return null;
            });
            if (found != null) { pad = found; break; }
        }
        return new ClipTokenizer(vocab, merges, pad, EndToken, vocabPath);
    }

    public static Dictionary<string, int> ReadVocab(string path) => Csr.Models.IO.JsonFile.Read(path, root =>
    {
        if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{path}: expected a JSON object of token -> id");
        var d = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var p in root.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out int id) || id < 0)
                throw new InvalidDataException($"{path}: id of '{p.Name}' must be a non-negative integer");
            d[p.Name] = id;
        }
        return d;
    });

    public static List<(string, string)> ReadMerges(string path)
    {
        var list = new List<(string, string)>();
        int lineNo = 0;
        foreach (var raw in Encoding.UTF8.GetString(Csr.Models.IO.Utf8File.ReadAllBytes(path)).Split('\n'))
        {
            lineNo++;
            var line = raw.TrimEnd('\r');
            if (lineNo == 1 && line.StartsWith("#version", StringComparison.Ordinal)) continue;
            if (line.Length == 0) continue;
            var parts = line.Split(' ');
            if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
                throw new InvalidDataException($"{path}:{lineNo}: a merge must be two symbols separated by one space, found '{line}'");
            list.Add((parts[0], parts[1]));
        }
        return list;
    }

    /// <summary>
    /// Cleaning without ftfy: NFC (where the runtime has ICU; under InvariantGlobalization .NET leaves non-ASCII
    /// text unnormalised, so decomposed accents stay decomposed), control characters removed, CJK spaced,
    /// whitespace collapsed, trimmed, lower-cased.
    /// </summary>
    public static string Clean(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (var r in text.Normalize(NormalizationForm.FormC).EnumerateRunes())
        {
            int cp = r.Value;
            if (cp == 0 || cp == 0xFFFD) continue;
            if (Rune.IsWhiteSpace(r)) { sb.Append(' '); continue; }
            var cat = Rune.GetUnicodeCategory(r);
            if (cat is UnicodeCategory.Control or UnicodeCategory.Format) continue;
            if (IsCjk(cp)) { sb.Append(' ').Append(r.ToString()).Append(' '); continue; }
            sb.Append(r.ToString());
        }
        var collapsed = string.Join(' ', sb.ToString().Split(' ', StringSplitOptions.RemoveEmptyEntries));
        return collapsed.ToLowerInvariant();
    }

    private static bool IsCjk(int cp) =>
        cp is >= 0x4E00 and <= 0x9FFF or >= 0x3400 and <= 0x4DBF or >= 0x20000 and <= 0x2A6DF or >= 0x2A700 and <= 0x2B73F
            or >= 0x2B740 and <= 0x2B81F or >= 0x2B820 and <= 0x2CEAF or >= 0xF900 and <= 0xFAFF or >= 0x2F800 and <= 0x2FA1F;

    /// <summary>The BPE tokens (strings) of a text, without start/end tokens.</summary>
    public IReadOnlyList<string> Tokenize(string text)
    {
        var tokens = new List<string>();
        foreach (var piece in PreTokenize(text)) tokens.AddRange(Bpe(piece));
        return tokens;
    }

    private string[] Bpe(string token)
    {
        if (_cache.TryGetValue(token, out var cached)) return cached;
        if (token is StartToken or EndToken) return _cache[token] = [token];
        var word = new List<string>(token.Length);
        foreach (var r in token.EnumerateRunes()) word.Add(r.ToString());
        word[^1] += EndOfWord;
        word = ApplyMerges(word, _ranks);
        var result = word.ToArray();
        if (_cache.Count < 100_000) _cache[token] = result;
        return result;
    }

    /// <summary>BPE: repeatedly merges every occurrence of the lowest-ranked adjacent pair until no pair has a rank.</summary>
    internal static List<string> ApplyMerges(List<string> word, IReadOnlyDictionary<(string, string), int> ranks)
    {
        while (word.Count > 1)
        {
            int best = int.MaxValue, at = -1;
            for (int i = 0; i < word.Count - 1; i++)
                if (ranks.TryGetValue((word[i], word[i + 1]), out int rk) && rk < best) { best = rk; at = i; }
            if (at < 0) break;
            var (a, b) = (word[at], word[at + 1]);
            var merged = new List<string>(word.Count);
            for (int i = 0; i < word.Count; i++)
            {
                if (i < word.Count - 1 && word[i] == a && word[i + 1] == b) { merged.Add(a + b); i++; }
                else merged.Add(word[i]);
            }
            word = merged;
        }
        return word;
    }

    /// <summary>Pre-tokenized, byte-level-mapped pieces of a text (what BPE runs on).</summary>
    public static IEnumerable<string> PreTokenize(string text)
    {
        foreach (Match m in Pattern().Matches(Clean(text)))
            yield return ByteUnicode.Encode(Encoding.UTF8.GetBytes(m.Value));
    }

    /// <summary>Ids of a text; <paramref name="addBos"/> adds both <c>&lt;|startoftext|&gt;</c> and <c>&lt;|endoftext|&gt;</c> (HF add_special_tokens).</summary>
    public int[] Encode(string text, bool addBos)
    {
        var ids = new List<int>();
        if (addBos) ids.Add(BosId);
        foreach (var t in Tokenize(text)) ids.Add(_encoder.TryGetValue(t, out var id) ? id : UnkId);
        if (addBos) ids.Add(EosId);
        return ids.ToArray();
    }

    /// <summary>
    /// Encodes a batch: each text as <c>[sot, tokens..., eot]</c>, truncated to <paramref name="maxLength"/> keeping
    /// <c>eot</c> last, right-padded with the pad id. Returns int64 ids [B, maxLength] and attention mask [B, maxLength]
    /// (1 = token, 0 = padding).
    /// </summary>
    public (Tensor InputIds, Tensor AttentionMask) EncodeBatch(IReadOnlyList<string> texts, int maxLength = 77)
    {
        if (maxLength < 2) throw new ArgumentException($"maxLength must be at least 2 (start and end tokens), got {maxLength}");
        int b = texts.Count;
        var ids = new long[b * maxLength];
        var mask = new long[b * maxLength];
        int pad = PadId ?? EosId;
        for (int i = 0; i < b; i++)
        {
            var enc = Encode(texts[i], addBos: true);
            if (enc.Length > maxLength) { enc = enc[..maxLength]; enc[^1] = EosId; }
            for (int j = 0; j < maxLength; j++)
            {
                bool real = j < enc.Length;
                ids[i * maxLength + j] = real ? enc[j] : pad;
                mask[i * maxLength + j] = real ? 1 : 0;
            }
        }
        return (tensor(ids, new long[] { b, maxLength }), tensor(mask, new long[] { b, maxLength }));
    }

    public string Decode(IEnumerable<int> ids, bool skipSpecial = true)
    {
        var sb = new StringBuilder();
        foreach (var id in ids)
        {
            if (id < 0 || id >= _decoder.Length || _decoder[id] is null)
                throw new ArgumentOutOfRangeException(nameof(ids), $"token id {id} is outside the vocabulary (size {VocabSize})");
            if (skipSpecial && (id == BosId || id == EosId || id == PadId)) continue;
            sb.Append(_decoder[id]);
        }
        var text = sb.ToString();
        var bytes = new List<byte>(text.Length);
        foreach (var ch in text)
        {
            if (ByteUnicode.CharToByte.TryGetValue(ch, out var by)) bytes.Add(by);
            else bytes.AddRange(Encoding.UTF8.GetBytes(ch.ToString()));
        }
        return Encoding.UTF8.GetString(bytes.ToArray()).Replace(EndOfWord, " ").Trim();
    }

    public int? TokenToId(string token) => _encoder.TryGetValue(token, out var id) ? id : null;

    public string? IdToToken(int id) => id >= 0 && id < _decoder.Length ? _decoder[id] : null;
}
