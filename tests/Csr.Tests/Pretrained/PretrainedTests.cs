using Csr.Models.Clip;
using Csr.Models.Generation;
using Csr.Models.IO;
using Csr.Models.Llava;
using Csr.Models.Tokenizers;
using Csr.Native;
using Csr.Tests.IO;
using Csr.Train.Cli;
using SkiaSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Tests.Pretrained;

[CollectionDefinition("PretrainedCli", DisableParallelization = true)]
public class PretrainedCliCollection;

[Collection("PretrainedCli")]
public class PretrainedTests
{
    public PretrainedTests() => TorchRuntime.EnsureInitialised();

    private const string Prompt =
        "A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the human's questions. USER: <image>\nWhat is in this image? ASSISTANT:";

    /// <summary>A small PNG with a red square on blue, written with SkiaSharp.</summary>
    private static string WriteImage(string dir, int w = 40, int h = 30)
    {
        using var bmp = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                bmp.SetPixel(x, y, x > 10 && x < 25 && y > 5 && y < 20 ? new SKColor(220, 30, 30) : new SKColor(20, 40, (byte)(100 + x)));
        using var img = SKImage.FromBitmap(bmp);
        using var data = img.Encode(SKEncodedImageFormat.Png, 100);
        var path = Path.Combine(dir, "scene.png");
        File.WriteAllBytes(path, data.ToArray());
        return path;
    }

    /// <summary>Greedy ids straight from an in-memory model (no files), the reference for the loaded one.</summary>
    private static int[] GreedyInMemory(LlavaForConditionalGeneration model, int[] promptIds, Tensor pixels, int maxNew, int eos)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var ids = tensor(promptIds.Select(i => (long)i).ToArray(), new long[] { 1, promptIds.Length });
        var embeds = model.EmbedInputs(ids, model.EncodeImages(pixels));
        using var start = GenerationStart.Prefill(model, embeds, ones(1, promptIds.Length, dtype: ScalarType.Int64));
        return Decoding.Greedy(model, start, maxNew, [eos]).Tokens[0];
    }

    [Fact]
    public void Tiny_llava_directory_has_every_hf_file_and_loads_to_the_in_memory_model()
    {
        using var dir = new TempDir();
        var written = TinyLlavaCheckpoint.Write(dir.Path, seed: 3);
        foreach (var f in new[] { "config.json", CheckpointFiles.IndexFileName, "tokenizer.model", "tokenizer_config.json",
                     "special_tokens_map.json", "added_tokens.json", "preprocessor_config.json" })
            Assert.True(File.Exists(dir[f]), $"{f} missing");
        Assert.True(Directory.GetFiles(dir.Path, "model-*-of-*.safetensors").Length >= 2);
        Assert.Equal(written.Count, written.Distinct().Count());

        int progressCalls = 0;
        using var loaded = LlavaPretrained.Load(dir.Path, progress: (d, t, _, _) => { progressCalls++; Assert.True(d <= t); });
        Assert.Equal(loaded.Model.state_dict().Count, progressCalls);
        var (reference, pieces) = TinyLlavaCheckpoint.Create(3);
        using var _r = reference;
        TensorAssert.StatesBitEqual(reference, loaded.Model);
        Assert.Equal(pieces.Count, loaded.Config.ImageTokenIndex);
        Assert.Equal(loaded.Config.ImageTokenIndex, loaded.Tokenizer.TokenToId("<image>"));
        Assert.Equal(loaded.Config.PadTokenId, loaded.Tokenizer.PadId);

        // the prompt: BOS, the template's words as single tokens, <image> expanded to image_seq_length ids
        var ids = loaded.EncodePrompt(Prompt);
        Assert.Equal(1, ids[0]);
        Assert.Equal(loaded.Config.ImageSeqLength, ids.Count(i => i == loaded.Config.ImageTokenIndex));
        Assert.Equal(loaded.Tokenizer.TokenToId("\u2581chat"), ids[2]);

        using var pixels = loaded.PreprocessImage(WriteImage(dir.Path));
        Assert.Equal(new long[] { 1, 3, 28, 28 }, pixels.shape);
        var fromFiles = loaded.GenerateIds(pixels, Prompt, maxNewTokens: 6);
        var inMemory = GreedyInMemory(reference, ids, pixels, 6, loaded.Tokenizer.EosId);
        Assert.Equal(inMemory, fromFiles);
        Assert.NotEmpty(fromFiles);
    }

    [Fact]
    public void Custom_words_and_sizes_give_a_loadable_checkpoint_with_those_words_as_single_tokens()
    {
        using var dir = new TempDir();
        string[] words = ["USER", "ASSISTANT", "hexagon", "magenta", "Describe"];
        TinyLlavaCheckpoint.Write(dir.Path, 7, words, n => TinyLlavaCheckpoint.Config(n, imageSize: 42, hiddenSize: 48, numLayers: 3, numHeads: 6, numKvHeads: 3));
        using var m = LlavaPretrained.Load(dir.Path);
        Assert.Equal(48, m.Config.TextConfig.HiddenSize);
        Assert.Equal(9, m.Config.ImageSeqLength);                          // (42 / 14)^2
        Assert.Equal(0, m.Config.TextConfig.VocabSize % 64);
        Assert.Single(m.Tokenizer.Encode("magenta", addBos: false));
        Assert.Equal(new[] { m.Tokenizer.TokenToId("\u2581hexagon")!.Value, m.Tokenizer.TokenToId(".")!.Value },
            m.Tokenizer.Encode("hexagon.", addBos: false));
        Assert.Throws<ArgumentException>(() => TinyLlavaCheckpoint.Create(1, words, n => TinyLlavaCheckpoint.Config(n - 5)));
    }

    [Fact]
    public void Same_seed_writes_identical_weight_files_and_another_seed_does_not()
    {
        using var dir = new TempDir();
        TinyLlavaCheckpoint.Write(dir["a"], 5);
        TinyLlavaCheckpoint.Write(dir["b"], 5);
        TinyLlavaCheckpoint.Write(dir["c"], 6);
        var shards = Directory.GetFiles(dir["a"], "*.safetensors").Select(Path.GetFileName).OrderBy(n => n).ToList();
        foreach (var s in shards)
            Assert.Equal(File.ReadAllBytes(Path.Combine(dir["a"], s!)), File.ReadAllBytes(Path.Combine(dir["b"], s!)));
        Assert.NotEqual(File.ReadAllBytes(Path.Combine(dir["a"], shards[0]!)), File.ReadAllBytes(Path.Combine(dir["c"], shards[0]!)));
        Assert.Equal(File.ReadAllBytes(dir["a/tokenizer.model"]), File.ReadAllBytes(dir["c/tokenizer.model"]));
    }

    [Fact]
    public void Tokenizer_that_disagrees_with_the_config_is_refused_naming_both()
    {
        using var dir = new TempDir();
        TinyLlavaCheckpoint.Write(dir.Path, 1);
        var pieces = TinyLlavaCheckpoint.Vocabulary();
        LlamaTokenizerFiles.Write(dir.Path, pieces, [new AddedToken(pieces.Count + 1, "<image>"), new AddedToken(pieces.Count, "<pad>")]);
        var ex = Assert.Throws<InvalidDataException>(() => LlavaPretrained.Load(dir.Path));
        Assert.Contains("image_token_index", ex.Message);
        Assert.Contains(dir.Path, ex.Message);
    }

    [Fact]
    public void Tiny_clip_directory_loads_and_scores_like_the_in_memory_model()
    {
        using var dir = new TempDir();
        TinyClipCheckpoint.Write(dir.Path, seed: 4);
        foreach (var f in new[] { "config.json", "model.safetensors", "vocab.json", "merges.txt", "preprocessor_config.json", "tokenizer_config.json" })
            Assert.True(File.Exists(dir[f]), $"{f} missing");
        using var clip = ClipPretrained.Load(dir.Path);
        var (reference, vocab, _) = TinyClipCheckpoint.Create(4);
        using var _r = reference;
        TensorAssert.StatesBitEqual(reference, clip.Model);
        Assert.Equal(vocab.Count, clip.Tokenizer.VocabSize);
        Assert.Single(clip.Tokenizer.Encode("triangle", addBos: false));

        var image = WriteImage(dir.Path);
        string[] texts = ["a red square on the left.", "a blue circle", "there is a green star!"];
        using var logits = clip.LogitsPerImage([image], texts);
        Assert.Equal(new long[] { 1, 3 }, logits.shape);
        using var scope = NewDisposeScope();
        var pixels = clip.PreprocessImages([image]);
        var (ids, mask) = clip.Tokenizer.EncodeBatch(texts);
        var expected = reference.LogitsPerImage(pixels, ids, mask);
        TensorAssert.BitEqual(expected, logits, "logits_per_image");
    }

    [Fact]
    public void Cli_make_tiny_then_generate_prints_the_in_memory_models_greedy_answer()
    {
        using var dir = new TempDir();
        Assert.Equal(0, CliApp.Run(["make-tiny", "--out", dir.Path, "--seed", "2"]));
        Assert.True(File.Exists(dir["llava/config.json"]) && File.Exists(dir["clip/config.json"]));
        var image = WriteImage(dir.Path);

        var sw = new StringWriter();
        var verb = new GenerateVerb
        {
            Model = dir["llava"], Image = image, Prompt = "What is in this image?", MaxNewTokens = 5, ShowIds = true, Output = sw,
        };
        Assert.Equal(0, verb.Execute());
        var lines = sw.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var printedIds = lines.Single(l => l.StartsWith("ids: ")).Substring(5).Split(' ').Select(int.Parse).ToArray();

        using var loaded = LlavaPretrained.Load(dir["llava"]);
        var (reference, _) = TinyLlavaCheckpoint.Create(2);
        using var _r = reference;
        using var pixels = loaded.PreprocessImage(image);
        // generate's default template is vicuna_v1, as the other verbs'
        var prompt = Csr.Train.Pipeline.PromptTemplate.VicunaV1.Format("<image>\nWhat is in this image?");
        var expected = GreedyInMemory(reference, loaded.EncodePrompt(prompt), pixels, 5, loaded.Tokenizer.EosId);
        Assert.Equal(expected, printedIds);
        Assert.Equal(loaded.Tokenizer.Decode(expected).Trim(), lines[0].TrimEnd('\r'));
    }

    [Fact]
    public void Cli_generate_reports_user_errors_with_exit_code_2()
    {
        using var dir = new TempDir();
        Assert.Equal(2, CliApp.Run(["generate", "--model", dir["nope"], "--image", dir["none.png"], "--prompt", "hi"]));
        var image = WriteImage(dir.Path);
        Assert.Equal(2, CliApp.Run(["generate", "--model", dir["nope"], "--image", image, "--prompt", "hi"]));
        Assert.Equal(2, CliApp.Run(["generate", "--model", dir.Path, "--image", image, "--prompt", "hi", "--dtype", "int8"]));
    }
}
