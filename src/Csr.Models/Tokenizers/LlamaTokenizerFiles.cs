using System.Text.Json;
using Csr.Models.IO;

namespace Csr.Models.Tokenizers;

/// <summary>
/// Writes the tokenizer files of a llava-hf model directory: <c>tokenizer.model</c>, <c>tokenizer_config.json</c>
/// (<c>added_tokens_decoder</c>, bos/eos/unk/pad tokens, <c>add_bos_token</c>), <c>special_tokens_map.json</c> and
/// <c>added_tokens.json</c>, all atomically. <see cref="LlamaTokenizer.FromDirectory"/> reads them back.
/// </summary>
public static class LlamaTokenizerFiles
{
    /// <summary>
    /// Writes the files. <paramref name="added"/> are appended ids (llava-hf: "&lt;image&gt;" = 32000, "&lt;pad&gt;" = 32001,
    /// i.e. right after the base pieces). Returns the paths written.
    /// </summary>
    public static IReadOnlyList<string> Write(string dir, IReadOnlyList<SentencePiece> pieces, IReadOnlyList<AddedToken> added,
        string? padToken = "<pad>", int modelMaxLength = 4096)
    {
        Directory.CreateDirectory(dir);
        var written = new List<string>();
        var model = Path.Combine(dir, LlamaTokenizer.ModelFileName);
        SentencePieceModelWriter.Write(model, pieces);
        written.Add(model);

        var opts = new JsonWriterOptions { Indented = true };
        string Json(Action<Utf8JsonWriter> body)
        {
            using var ms = new MemoryStream();
            using (var w = new Utf8JsonWriter(ms, opts)) { w.WriteStartObject(); body(w); w.WriteEndObject(); }
            return System.Text.Encoding.UTF8.GetString(ms.ToArray()) + "\n";
        }
        var specials = new List<AddedToken> { new(0, pieces[0].Piece), new(1, pieces[1].Piece), new(2, pieces[2].Piece) };
        specials.AddRange(added);

        var config = Path.Combine(dir, LlamaTokenizer.ConfigFileName);
        AtomicFile.WriteAllText(config, Json(w =>
        {
            w.WriteBoolean("add_bos_token", true);
            w.WriteBoolean("add_eos_token", false);
            w.WriteStartObject("added_tokens_decoder");
            foreach (var t in specials)
            {
                w.WriteStartObject(t.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
                w.WriteString("content", t.Content);
                w.WriteBoolean("lstrip", false);
                w.WriteBoolean("normalized", false);
                w.WriteBoolean("rstrip", false);
                w.WriteBoolean("single_word", false);
                w.WriteBoolean("special", t.Special);
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteString("bos_token", pieces[1].Piece);
            w.WriteString("eos_token", pieces[2].Piece);
            w.WriteString("unk_token", pieces[0].Piece);
            if (padToken != null) w.WriteString("pad_token", padToken); else w.WriteNull("pad_token");
            w.WriteBoolean("clean_up_tokenization_spaces", false);
            w.WriteBoolean("legacy", true);
            w.WriteNumber("model_max_length", modelMaxLength);
            w.WriteString("padding_side", "left");
            w.WriteString("tokenizer_class", "LlamaTokenizer");
        }));
        written.Add(config);

        var map = Path.Combine(dir, LlamaTokenizer.SpecialTokensMapFileName);
        AtomicFile.WriteAllText(map, Json(w =>
        {
            w.WriteString("bos_token", pieces[1].Piece);
            w.WriteString("eos_token", pieces[2].Piece);
            w.WriteString("unk_token", pieces[0].Piece);
            if (padToken != null) w.WriteString("pad_token", padToken);
        }));
        written.Add(map);

        var addedPath = Path.Combine(dir, LlamaTokenizer.AddedTokensFileName);
        AtomicFile.WriteAllText(addedPath, Json(w => { foreach (var t in added) w.WriteNumber(t.Content, t.Id); }));
        written.Add(addedPath);
        return written;
    }
}
