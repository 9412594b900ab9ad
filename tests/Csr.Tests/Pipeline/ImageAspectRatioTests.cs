using CommandLine;
using Csr.Models.Vision;
using Csr.Train.Cli;
using Csr.Train.Dpo;
using Csr.Train.Pipeline;
using Csr.Train.Sampling;
using static TorchSharp.torch;

namespace Csr.Tests.Pipeline;

/// <summary>
/// Image preprocessing per stage as the official scripts: sample without pad (llava-hf AutoProcessor), DPO with pad
/// to square (--image_aspect_ratio pad), each switchable. The test images are 40 x 32, so the two modes differ.
/// </summary>
public class ImageAspectRatioTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("csr-aspect-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    string Images => Path.Combine(_dir, "img");

    internal static T Parse<T>(params string[] args)
    {
        using var parser = new Parser(s => { s.HelpWriter = null; s.CaseInsensitiveEnumValues = true; });
        var result = parser.ParseArguments(args, VerbRegistry.Types);
        Assert.True(result.Tag == ParserResultType.Parsed, $"csr-train {string.Join(' ', args)} did not parse");
        return Assert.IsType<T>(result.Value);
    }

    static Tensor Processed(string path, string mode) =>
        new ImageProcessor(ImageProcessorConfig.ForSize(32) with { ImageAspectRatio = mode }).Preprocess(path);

    static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.allclose(b, rtol: 0, atol: 0);

    [Fact]
    public void SampleFeedsTheUnpaddedAndDpoThePaddedPixelsByDefault()
    {
        var prompts = TinyLlava.Prompts(Images, 1);
        string image = Path.Combine(Images, prompts[0].Image);
        using var vlm = TinyLlava.Create();
        using var scope = NewDisposeScope();
        var none = Processed(image, "none");
        var pad = Processed(image, "pad");
        Assert.False(Same(none, pad), "the test image must be non-square so the two modes differ");

        var sample = Parse<SampleVerb>("sample", "--model", "m", "--prompts", "p", "--out", "o", "--images", Images);
        var sampleOptions = sample.StageOptions();
        Assert.Equal("none", sampleOptions.ImageAspectRatio);
        Assert.True(Same(SampleRunner.Pixels(vlm, sampleOptions, prompts[0]), none));

        var dpo = Parse<DpoVerb>("dpo", "--model", "m", "--prefs", "p", "--out", "o", "--images", Images, "--lora-r", "2");
        var dpoOptions = dpo.Options();
        Assert.Equal("pad", dpoOptions.ImageAspectRatio);
        // a model whose own processor does not pad: the pad comes from the DPO options
        var plain = new Csr.Train.Models.VisionLanguageModel(vlm.Model, vlm.Tokenizer, vlm.Images.WithAspectRatio("none"));
        var policy = new LlavaDpoModel(plain, dpoOptions);
        Assert.True(Same(policy.Pixels(image), pad));

        // switched
        var sampleSwitched = Parse<SampleVerb>("sample", "--model", "m", "--prompts", "p", "--out", "o", "--images", Images, "--image-aspect-ratio", "pad");
        Assert.True(Same(SampleRunner.Pixels(vlm, sampleSwitched.StageOptions(), prompts[0]), pad));
        using var vlm2 = TinyLlava.Create();
        var dpoSwitched = Parse<DpoVerb>("dpo", "--model", "m", "--prefs", "p", "--out", "o", "--images", Images, "--lora-r", "2", "--image-aspect-ratio", "none");
        Assert.True(Same(new LlavaDpoModel(vlm2, dpoSwitched.Options()).Pixels(image), none));
    }

    [Fact]
    public void TheSampleStageSamplesFromTheUnpaddedImage()
    {
        // the model's own processor pads (as a llava directory loads); the sample stage must still feed the unpadded
        // pixels: its tree equals that of a model whose processor does not pad, and differs from the padded one's
        var prompts = TinyLlava.Prompts(Images, 1);
        var small = new SampleOptions { MaxNewTokens = 4, MaxLength = 40, SentenceEndId = CharTokenizer.Period };
        string Tree(string processorMode, string stageMode, string name)
        {
            using var vlm = TinyLlava.Create();
            var model = processorMode == vlm.Images.Config.ImageAspectRatio ? vlm
                : new Csr.Train.Models.VisionLanguageModel(vlm.Model, vlm.Tokenizer, vlm.Images.WithAspectRatio(processorMode));
            var o = new SampleStageOptions(small, TinyLlava.Template, new ImagePathRule(Images), Shard.All, ImageAspectRatio: stageMode);
            string outDir = Path.Combine(_dir, name);
            SampleRunner.Run(model, prompts, outDir, o);
            return File.ReadAllText(TreeFile.PathFor(outDir, prompts[0].Id));
        }
        var defaultStage = new SampleStageOptions(small, TinyLlava.Template, new ImagePathRule(Images), Shard.All).ImageAspectRatio;
        Assert.Equal("none", defaultStage);
        var viaPaddingModel = Tree("pad", defaultStage, "a");
        var viaPlainModel = Tree("none", "none", "b");
        var padded = Tree("pad", "pad", "c");
        Assert.Equal(viaPlainModel, viaPaddingModel);
        Assert.NotEqual(padded, viaPaddingModel);
    }

    [Fact]
    public void RunSetsEachStageOrBothAndRecordsThemInTheManifestOptions()
    {
        Directory.CreateDirectory(Images);
        string[] common = ["run", "--model", "m", "--clip", "c", "--prompts", "p", "--out", "o", "--images", Images];
        var byDefault = Parse<RunVerb>(common).RunOptions();
        Assert.Equal(("none", "pad"), (byDefault.SampleImageAspectRatio, byDefault.Dpo.ImageAspectRatio));
        var dpoNone = Parse<RunVerb>([.. common, "--dpo-image-aspect-ratio", "none"]).RunOptions();
        Assert.Equal(("none", "none"), (dpoNone.SampleImageAspectRatio, dpoNone.Dpo.ImageAspectRatio));
        var samplePad = Parse<RunVerb>([.. common, "--sample-image-aspect-ratio", "PAD"]).RunOptions();
        Assert.Equal(("pad", "pad"), (samplePad.SampleImageAspectRatio, samplePad.Dpo.ImageAspectRatio));
        var verb = Parse<RunVerb>([.. common, "--image-aspect-ratio", "none", "--sample-image-aspect-ratio", "pad"]);
        var both = verb.RunOptions();
        Assert.Equal(("none", "none"), (both.SampleImageAspectRatio, both.Dpo.ImageAspectRatio));
        var manifest = verb.ManifestOptions(both);
        Assert.Equal("none", manifest["sample-image-aspect-ratio"]);
        Assert.Equal("none", manifest["dpo-image-aspect-ratio"]);
        Assert.Equal("none", manifest["image-aspect-ratio"]);
        Assert.Equal(5, manifest["num-beams"]); // the sampling options (declared on an interface) are recorded too
    }

    [Theory]
    [InlineData("--image-aspect-ratio")]
    [InlineData("--sample-image-aspect-ratio")]
    [InlineData("--dpo-image-aspect-ratio")]
    public void ABadValueIsAUserErrorNamingTheOption(string option)
    {
        Directory.CreateDirectory(Images);
        var verb = Parse<RunVerb>("run", "--model", "m", "--clip", "c", "--prompts", "p", "--out", "o", "--images", Images, option, "square");
        var ex = Assert.Throws<CsrUserException>(() => verb.RunOptions());
        Assert.StartsWith($"{option} 'square'", ex.Message);
        Assert.Contains("pad or none", ex.Message);
    }
}
