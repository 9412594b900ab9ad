using Csr.Models.Tokenizers;
using Csr.Tests.IO;

namespace Csr.Tests.Tokenizers;

public class LlamaTokenizerTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const char S = SentencePieceModelWriter.Space;

    private static (List<SentencePiece> Pieces, LlamaTokenizer Tok, TempDir Dir) Build(string[] words, string[]? extra = null)
    {
        var pieces = SentencePieceModelWriter.BuildLlamaStyleVocabulary(words, extra);
        var dir = new TempDir();
        int n = pieces.Count;
        LlamaTokenizerFiles.Write(dir.Path, pieces, [new AddedToken(n, "<image>"), new AddedToken(n + 1, "<pad>")]);
        return (pieces, LlamaTokenizer.FromDirectory(dir.Path), dir);
    }

    private static int Id(List<SentencePiece> pieces, string piece)
    {
        int i = pieces.FindIndex(p => p.Piece == piece);
        Assert.True(i >= 0, $"piece '{piece}' not in the vocabulary");
        return i;
    }

    [Fact]
    public void Vocabulary_has_llama_layout_special_ids_and_byte_pieces()
    {
        var (pieces, tok, dir) = Build(["hello"]);
        using var _ = dir;
        Assert.Equal(("<unk>", "<s>", "</s>"), (pieces[0].Piece, pieces[1].Piece, pieces[2].Piece));
        Assert.Equal("<0x0A>", pieces[13].Piece);          // newline is id 13, as in Llama-2
        Assert.Equal(1, tok.BosId);
        Assert.Equal(2, tok.EosId);
        Assert.Equal(0, tok.UnkId);
        Assert.Equal(pieces.Count, tok.BaseVocabSize);
        Assert.Equal(pieces.Count + 2, tok.VocabSize);
        Assert.Equal(pieces.Count + 1, tok.PadId);
        Assert.Equal(pieces.Count, tok.TokenToId("<image>"));
        Assert.Equal(Id(pieces, $"{S}hello"), tok.TokenToId($"{S}hello"));
        Assert.Null(tok.TokenToId("nonexistent-piece"));
        Assert.Equal("<image>", tok.IdToToken(pieces.Count));
    }

    [Fact]
    public void Words_after_a_space_are_one_token_with_the_dummy_prefix_and_bos()
    {
        var (pieces, tok, dir) = Build(["hello", "world", "cat"], ["."]);
        using var _ = dir;
        Assert.Equal(new[] { 1, Id(pieces, $"{S}hello"), Id(pieces, $"{S}world") }, tok.Encode("hello world", addBos: true));
        Assert.Equal(new[] { Id(pieces, $"{S}cat"), Id(pieces, ".") }, tok.Encode("cat.", addBos: false));
    }

    [Fact]
    public void Unknown_characters_fall_back_to_their_utf8_bytes()
    {
        var (pieces, tok, dir) = Build(["hello", "cat"]);
        using var _ = dir;
        // ',' (0x2C) is not a piece: byte piece <0x2C> = id 3 + 0x2C. 'é' = C3 A9.
        Assert.Equal(new[] { Id(pieces, $"{S}hello"), 3 + 0x2C, Id(pieces, $"{S}cat") }, tok.Encode("hello, cat", addBos: false));
        Assert.Equal(new[] { Id(pieces, $"{S}h"), 3 + 0xC3, 3 + 0xA9, Id(pieces, "l"), Id(pieces, "l"), Id(pieces, "o") },
            tok.Encode("héllo", addBos: false));
    }

    [Fact]
    public void Image_token_is_one_id_and_each_segment_gets_its_own_dummy_prefix_as_llava_hf()
    {
        var (pieces, tok, dir) = Build(["USER", "What", "ASSISTANT"], [":"]);
        using var _ = dir;
        int image = tok.TokenToId("<image>")!.Value;
        // llava-hf: "USER: <image>\nWhat" -> [1, ▁USER, :, ▁, 32000, ▁, <0x0A>, What...]
        var expected = new[] { 1, Id(pieces, $"{S}USER"), Id(pieces, ":"), Id(pieces, $"{S}"), image, Id(pieces, $"{S}"), 13,
            Id(pieces, "W"), Id(pieces, "h"), Id(pieces, "a"), Id(pieces, "t") };
        Assert.Equal(expected, tok.Encode("USER: <image>\nWhat", addBos: true));
        Assert.Equal(new[] { image, image }, tok.Encode("<image><image>", addBos: false));
    }

    [Theory]
    [InlineData("hello world")]
    [InlineData("hello, cat. héllo\nworld")]
    [InlineData("a  double space and ümlauts 日本")]
    public void Decode_round_trips_encode(string text)
    {
        var (_, tok, dir) = Build(["hello", "world", "cat", "a", "and"], [".", " "]);
        using var __ = dir;
        Assert.Equal(text, tok.Decode(tok.Encode(text, addBos: true)));
    }

    [Fact]
    public void Decode_skips_special_tokens_unless_asked()
    {
        var (pieces, tok, dir) = Build(["hello", "world"]);
        using var _ = dir;
        int image = tok.TokenToId("<image>")!.Value;
        var ids = new[] { 1, image, Id(pieces, $"{S}hello"), Id(pieces, $"{S}world"), 2 };
        Assert.Equal("hello world", tok.Decode(ids));
        var raw = tok.Decode(ids, skipSpecial: false);
        Assert.Contains("<image>", raw);
        Assert.Contains("hello world", raw);
        Assert.Contains("</s>", raw);
        // ids of the model's padded embedding rows beyond the tokenizer have no text (as HF's fast tokenizer)
        Assert.Equal("hello", tok.Decode([Id(pieces, $"{S}hello"), tok.VocabSize + 5]));
        Assert.Throws<ArgumentOutOfRangeException>(() => tok.Decode([-1]));
    }

    [Fact]
    public void Bad_tokenizer_files_name_the_file()
    {
        var (pieces, _, dir) = Build(["hello"]);
        using var _d = dir;
        File.WriteAllText(dir[LlamaTokenizer.AddedTokensFileName], "{\"<image>\": 5}");
        var ex = Assert.Throws<InvalidDataException>(() => LlamaTokenizer.FromDirectory(dir.Path));
        Assert.Contains(LlamaTokenizer.AddedTokensFileName, ex.Message);
        Assert.Contains("'<image>'", ex.Message);

        File.Delete(dir[LlamaTokenizer.AddedTokensFileName]);
        File.WriteAllText(dir[LlamaTokenizer.ConfigFileName], "{ not json");
        var ex2 = Assert.Throws<InvalidDataException>(() => LlamaTokenizer.FromDirectory(dir.Path));
        Assert.Contains(LlamaTokenizer.ConfigFileName, ex2.Message);

        File.Delete(dir[LlamaTokenizer.ConfigFileName]);
        File.WriteAllBytes(dir[LlamaTokenizer.ModelFileName], [1, 2, 3, 4, 5]);
        var ex3 = Assert.Throws<InvalidDataException>(() => LlamaTokenizer.FromDirectory(dir.Path));
        Assert.Contains(LlamaTokenizer.ModelFileName, ex3.Message);

        File.Delete(dir[LlamaTokenizer.ModelFileName]);
        var ex4 = Assert.Throws<FileNotFoundException>(() => LlamaTokenizer.FromDirectory(dir.Path));
        Assert.Contains(LlamaTokenizer.ModelFileName, ex4.Message);
    }

    [Fact]
    public void Writer_rejects_inconsistent_piece_lists()
    {
        var pieces = SentencePieceModelWriter.BuildLlamaStyleVocabulary(["hi"]);
        Assert.Throws<ArgumentException>(() => SentencePieceModelWriter.Serialize(pieces.Append(pieces[^1]).ToList()));
        Assert.Throws<ArgumentException>(() => SentencePieceModelWriter.Serialize(pieces.Where(p => p.Piece != "<0x41>").ToList()));
        Assert.Throws<ArgumentException>(() => SentencePieceModelWriter.Serialize(pieces, bosId: 5));
    }

    [Fact]
    public void Corrupted_tokenizer_models_only_ever_give_invalid_data_errors()
    {
        var (_, _, dir) = Build(["hello", "world"]);
        using var _d = dir;
        var bytes = File.ReadAllBytes(dir[LlamaTokenizer.ModelFileName]);
        var rng = new Random(99);
        int rejected = 0, loaded = 0;
        for (int trial = 0; trial < 120; trial++)
        {
            var b = (byte[])bytes.Clone();
            if (trial % 2 == 0) b = b[..rng.Next(b.Length)];
            else for (int k = 0; k < 3; k++) b[rng.Next(b.Length)] = (byte)rng.Next(256);
            File.WriteAllBytes(dir[LlamaTokenizer.ModelFileName], b);
            try
            {
                var tok = LlamaTokenizer.FromDirectory(dir.Path);
                tok.Decode(tok.Encode("hello world", addBos: true));
                loaded++;
            }
            catch (InvalidDataException ex)
            {
                Assert.Contains(dir.Path, ex.Message);
                rejected++;
            }
        }
        output.WriteLine($"tokenizer.model corruptions: 120 tried, {rejected} rejected with InvalidDataException, {loaded} still loadable; no other outcome");
        Assert.Equal(120, rejected + loaded);
        Assert.True(rejected >= 30, $"only {rejected} corruptions detected");
    }

    /// <summary>
    /// Independent reference: Google's sentencepiece (spm_encode, Debian package "sentencepiece") must load the
    /// tokenizer.model we write and encode as we do. Skipped when spm_encode is not installed.
    /// </summary>
    [ToolFact("spm_encode")]
    public void Encoding_matches_googles_sentencepiece_on_our_model()
    {
        var (_, tok, dir) = Build(["hello", "world", "What", "is", "in", "this", "image", "USER", "ASSISTANT", "red", "circle"], [".", ":", "?"]);
        using var _d = dir;
        string[] lines = ["USER: ", "What is in this image? ASSISTANT:", "hello world, héllo 日本", "a.b,c  double  spaces", "Is there a red circle?", " leading space", "trailing space ", "x"];
        var psi = new System.Diagnostics.ProcessStartInfo(ToolFactAttribute.Resolve("spm_encode")!, $"--model={dir[LlamaTokenizer.ModelFileName]} --output_format=id")
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false,
            StandardInputEncoding = new System.Text.UTF8Encoding(false), StandardOutputEncoding = System.Text.Encoding.UTF8,
        };
        using var p = System.Diagnostics.Process.Start(psi)!;
        p.StandardInput.Write(string.Join("\n", lines) + "\n");
        p.StandardInput.Close();
        var output = p.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.None);
        Assert.True(p.WaitForExit(30_000));
        for (int i = 0; i < lines.Length; i++)
        {
            var reference = output[i].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray();
            Assert.True(reference.SequenceEqual(tok.Encode(lines[i], addBos: false)),
                $"'{lines[i]}': sentencepiece {string.Join(",", reference)} vs ours {string.Join(",", tok.Encode(lines[i], addBos: false))}");
        }
    }
}

/// <summary>A fact that is skipped, saying so, when a command-line tool is not on PATH.</summary>
public sealed class ToolFactAttribute : FactAttribute
{
    public ToolFactAttribute(string tool)
    {
        if (Resolve(tool) is null) Skip = $"{tool} is not installed (on Debian: apt-get install sentencepiece)";
    }

    public static string? Resolve(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, tool)).FirstOrDefault(File.Exists);
}
