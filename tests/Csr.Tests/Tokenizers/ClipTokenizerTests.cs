using Csr.Models.Tokenizers;
using Csr.Native;
using Csr.Tests.IO;
using static TorchSharp.torch;

namespace Csr.Tests.Tokenizers;

public class ClipTokenizerTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private readonly bool _init = Init();
    private static bool Init() { TorchRuntime.EnsureInitialised(); return true; }

    // A hand-written vocabulary: ids chosen by hand so expected outputs can be checked by eye.
    private static readonly string[] Tokens =
    [
        "a", "c", "t", "a</w>", "t</w>", ",</w>", "!</w>", "ca", "cat</w>",   // 0..8
        "i", "t</w>x", "it</w>", "'", "s</w>", "'s</w>",                      // 9..14 ("t</w>x" is a decoy)
        "1</w>", "2</w>", "\u00C3", "\u00A9</w>",                              // 15..18 (é = C3 A9)
        "<|startoftext|>", "<|endoftext|>",                                    // 19, 20
    ];

    private static readonly string[] MergeLines = ["c a", "ca t</w>", "i t</w>", "' s</w>"];

    private static TempDir WriteFiles(string? tokenizerConfig = null)
    {
        var dir = new TempDir();
        File.WriteAllText(dir["vocab.json"], "{" + string.Join(",", Tokens.Select((t, i) => $"\"{t}\": {i}")) + "}");
        File.WriteAllText(dir["merges.txt"], "#version: 0.2\n" + string.Join("\n", MergeLines) + "\n");
        if (tokenizerConfig != null) File.WriteAllText(dir["tokenizer_config.json"], tokenizerConfig);
        return dir;
    }

    [Fact]
    public void Hand_checked_cases()
    {
        using var dir = WriteFiles();
        var tok = ClipTokenizer.FromDirectory(dir.Path);
        Assert.Equal((19, 20, 20), (tok.BosId, tok.EosId, tok.PadId!.Value));
        // lower-casing, whitespace collapse, punctuation pieces, </w> on the last symbol, merges by rank
        Assert.Equal(new[] { 19, 3, 8, 5, 3, 8, 6, 20 }, tok.Encode("  A cat,\t\n a CAT! ", addBos: true));
        // contractions are their own pieces; merges only apply to listed pairs
        Assert.Equal(new[] { 11, 14 }, tok.Encode("it's", addBos: false));
        // digits one by one
        Assert.Equal(new[] { 15, 16 }, tok.Encode("12", addBos: false));
        // byte-level: é = C3 A9 -> "Ã" + "©</w>"
        Assert.Equal(new[] { 17, 18 }, tok.Encode("é", addBos: false));
        // unknown -> unk (<|endoftext|>, as HF CLIP)
        Assert.Equal(new[] { 20 }, tok.Encode("z", addBos: false));
        // the special strings in text are kept whole
        Assert.Equal(new[] { 19, 3, 20 }, tok.Encode("<|startoftext|>a<|endoftext|>", addBos: false));
    }

    [Fact]
    public void Cleaning_is_lowercase_whitespace_collapse_and_control_removal()
    {
        Assert.Equal("a cat sat", ClipTokenizer.Clean("  A\u00A0Cat\r\n\tSAT \u0007"));
        Assert.Equal("\u00E9t\u00E9", ClipTokenizer.Clean("\u00C9T\u00C9"));   // non-ASCII lower-casing
        Assert.Equal("a 日 本", ClipTokenizer.Clean("a日本"));              // CJK spaced as BasicTokenizer does
    }

    [Fact]
    public void Byte_to_unicode_mapping_matches_gpt2()
    {
        Assert.Equal('!', ByteUnicode.ByteToChar['!']);
        Assert.Equal('\u0100', ByteUnicode.ByteToChar[0]);
        Assert.Equal('\u0120', ByteUnicode.ByteToChar[' ']);   // the famous "Ġ"
        Assert.Equal('\u0143', ByteUnicode.ByteToChar[0xAD]);  // soft hyphen is the last remapped byte
        Assert.Equal(256, ByteUnicode.ByteToChar.Distinct().Count());
    }

    [Fact]
    public void Batch_truncates_keeping_the_end_token_and_pads_with_the_configured_pad()
    {
        using var dir = WriteFiles();
        var tok = ClipTokenizer.FromDirectory(dir.Path);
        var (ids, mask) = tok.EncodeBatch(["a cat, a cat", "a"], maxLength: 5);
        Assert.Equal(new long[] { 2, 5 }, ids.shape);
        Assert.Equal(ScalarType.Int64, ids.dtype);
        Assert.Equal(new long[] { 19, 3, 8, 5, 20, 19, 3, 20, 20, 20 }, ids.data<long>().ToArray());
        Assert.Equal(new long[] { 1, 1, 1, 1, 1, 1, 1, 1, 0, 0 }, mask.data<long>().ToArray());

        using var dir2 = WriteFiles("{\"pad_token\": \"!</w>\"}");
        var tok2 = ClipTokenizer.FromDirectory(dir2.Path);
        var (ids2, _) = tok2.EncodeBatch(["a"], maxLength: 77);
        Assert.Equal(77, ids2.shape[1]);
        Assert.Equal(new long[] { 19, 3, 20, 6, 6 }, ids2.data<long>().ToArray()[..5]);
    }

    [Fact]
    public void Decode_inverts_byte_level_and_end_of_word()
    {
        using var dir = WriteFiles();
        var tok = ClipTokenizer.FromDirectory(dir.Path);
        Assert.Equal("a cat , é", tok.Decode(tok.Encode("A cat, é", addBos: true)));
        Assert.Equal("<|startoftext|>a <|endoftext|>", tok.Decode([19, 3, 20], skipSpecial: false));
    }

    [Fact]
    public void Built_tiny_tokenizer_makes_each_corpus_word_one_token_and_round_trips()
    {
        using var dir = new TempDir();
        string[] corpus = ["a red circle and a blue square.", "There's a green triangle!", "circles, squares"];
        var (vocab, merges) = ClipBpeFiles.Build(corpus);
        ClipBpeFiles.Write(dir.Path, vocab, merges);
        var tok = ClipTokenizer.FromDirectory(dir.Path);
        Assert.Equal(vocab.Count, tok.VocabSize);
        Assert.Equal(vocab.Count - 1, tok.EosId);
        Assert.Equal(vocab.Count - 2, tok.BosId);
        foreach (var w in new[] { "red", "circle", "square", "there", "'s", "triangle", "circles", "squares", "." })
            Assert.True(tok.Encode(w, addBos: false).Length == 1, $"'{w}' is not one token: {string.Join(",", tok.Encode(w, false))}");
        Assert.Equal("a red circle and a blue square .", tok.Decode(tok.Encode(corpus[0], addBos: true)));
        // text outside the corpus still encodes and decodes (byte-level fallback to single characters)
        Assert.Equal("purple hexagon ü", tok.Decode(tok.Encode("Purple hexagon ü", addBos: true)));
    }

    [Fact]
    public void Bad_files_name_the_file_and_line()
    {
        using var dir = WriteFiles();
        File.WriteAllText(dir["merges.txt"], "#version: 0.2\nc a\nbad line here\n");
        var ex = Assert.Throws<InvalidDataException>(() => ClipTokenizer.FromDirectory(dir.Path));
        Assert.Contains("merges.txt:3", ex.Message);
        File.WriteAllText(dir["merges.txt"], "c a\n");
        File.WriteAllText(dir["vocab.json"], "{\"a\": 0}");
        var ex2 = Assert.Throws<InvalidDataException>(() => ClipTokenizer.FromDirectory(dir.Path));
        Assert.Contains("vocab.json", ex2.Message);
        Assert.Contains("<|startoftext|>", ex2.Message);
        File.WriteAllText(dir["vocab.json"], "[1,2");
        Assert.Contains("vocab.json", Assert.Throws<InvalidDataException>(() => ClipTokenizer.FromDirectory(dir.Path)).Message);
        File.Delete(dir["vocab.json"]);
        Assert.Contains("vocab.json", Assert.Throws<FileNotFoundException>(() => ClipTokenizer.FromDirectory(dir.Path)).Message);
    }

    [Fact]
    public void Corrupted_vocab_and_merges_only_ever_give_invalid_data_errors()
    {
        using var dir = new TempDir();
        var (vocab, merges) = ClipBpeFiles.Build(["a red circle and a blue square."]);
        ClipBpeFiles.Write(dir.Path, vocab, merges);
        var files = new[] { dir["vocab.json"], dir["merges.txt"] };
        var originals = files.Select(File.ReadAllBytes).ToArray();
        var rng = new Random(7);
        int rejected = 0, loaded = 0;
        for (int trial = 0; trial < 100; trial++)
        {
            int which = trial % 2;
            var b = (byte[])originals[which].Clone();
            if (trial % 4 < 2) b = b[..rng.Next(b.Length)];
            else for (int k = 0; k < 3; k++) b[rng.Next(b.Length)] = (byte)rng.Next(256);
            File.WriteAllBytes(files[which], b);
            File.WriteAllBytes(files[1 - which], originals[1 - which]);
            try
            {
                var tok = ClipTokenizer.FromDirectory(dir.Path);
                tok.Decode(tok.Encode("a red circle, a blue square!", addBos: true));
                tok.EncodeBatch(["a red circle"]);
                loaded++;
            }
            catch (InvalidDataException ex)
            {
                Assert.Contains(dir.Path, ex.Message);
                rejected++;
            }
        }
        output.WriteLine($"CLIP vocab.json/merges.txt corruptions: 100 tried, {rejected} rejected with InvalidDataException, {loaded} still loadable; no other outcome");
        Assert.Equal(100, rejected + loaded);
    }
}
