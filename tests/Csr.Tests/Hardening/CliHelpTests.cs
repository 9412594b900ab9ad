using System.Reflection;
using System.Text.RegularExpressions;
using CommandLine;
using Csr.Tests.Pipeline;
using Csr.Train.Cli;

namespace Csr.Tests.Hardening;

/// <summary>csr-train's help, version and option lists, through the real program.</summary>
public class CliHelpTests
{
    public static IEnumerable<object[]> Verbs() =>
        VerbRegistry.Types.Select(t => new object[] { t.GetCustomAttribute<VerbAttribute>()!.Name });

    static readonly Regex OptionLine = new(@"^\s{2}(?:-\w, )?--(?<name>[\w-]+)(?<rest>.*)$");

    /// <summary>Option name -> its description (Required. and (Default: ...) removed), from a verb's --help.</summary>
    static Dictionary<string, string> Options(string help)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in help.Split('\n'))
        {
            var m = OptionLine.Match(line.TrimEnd('\r'));
            if (!m.Success) continue;
            var text = m.Groups["rest"].Value.Trim();
            text = Regex.Replace(text, @"^Required\.\s*", "");
            text = Regex.Replace(text, @"^\(Default: [^)]*\)\s*", "");
            d[m.Groups["name"].Value] = text;
        }
        return d;
    }

    [Theory]
    [MemberData(nameof(Verbs))]
    public void EveryOptionOfEveryVerbHasADescriptionAndHelpExitsZero(string verb)
    {
        var r = CliProcess.Run([verb, "--help"]);
        Assert.Equal(0, r.ExitCode);
        var options = Options(r.StdOut);
        Assert.Contains("help", options.Keys);
        Assert.True(options.Count > 1, $"{verb} --help lists no options:\n{r.StdOut}");
        foreach (var (name, text) in options)
            Assert.False(string.IsNullOrWhiteSpace(text), $"{verb} --{name} has no description");
    }

    [Fact]
    public void HelpAndVersionExitZeroAndAnUnknownOptionDoesNot()
    {
        var help = CliProcess.Run(["--help"]);
        Assert.Equal(0, help.ExitCode);
        Assert.Contains("dpo", help.StdOut);
        Assert.Equal(0, CliProcess.Run(["--version"]).ExitCode);
        Assert.Equal(0, CliProcess.Run(["help", "sample"]).ExitCode);
        Assert.NotEqual(0, CliProcess.Run(["dpo", "--no-such-option"]).ExitCode);
    }

    [Fact]
    public void EachStageVerbListsOnlyTheOptionsItUses()
    {
        var dpo = Options(CliProcess.Run(["dpo", "--help"]).StdOut);
        Assert.Contains("beta", dpo.Keys);
        Assert.Contains("image-aspect-ratio", dpo.Keys);
        foreach (var sampling in new[] { "num-beams", "num-beam-groups", "diversity-penalty", "max-new-tokens", "no-prefix-cache", "sentence-end-id" })
            Assert.DoesNotContain(sampling, dpo.Keys);
        var sample = Options(CliProcess.Run(["sample", "--help"]).StdOut);
        Assert.Contains("num-beams", sample.Keys);
        Assert.DoesNotContain("beta", sample.Keys);
        Assert.DoesNotContain("lora-r", sample.Keys);
        var score = Options(CliProcess.Run(["score", "--help"]).StdOut);
        Assert.DoesNotContain("template", score.Keys);
        Assert.DoesNotContain("num-beams", score.Keys);
        var run = Options(CliProcess.Run(["run", "--help"]).StdOut);
        foreach (var o in new[] { "num-beams", "beta", "sample-image-aspect-ratio", "dpo-image-aspect-ratio", "image-aspect-ratio" })
            Assert.Contains(o, run.Keys);
        foreach (var v in new[] { "generate", "eval" })
            Assert.Contains("dtype", Options(CliProcess.Run([v, "--help"]).StdOut).Keys);
    }

    [Fact]
    public void GenerateDefaultsToTheTemplateOfTheOtherVerbs()
    {
        var generate = ImageAspectRatioTests.Parse<GenerateVerb>("generate", "--model", "m", "--image", "i", "--prompt", "p");
        var sample = ImageAspectRatioTests.Parse<SampleVerb>("sample", "--model", "m", "--prompts", "p", "--out", "o");
        Assert.Equal("vicuna_v1", generate.Template);
        Assert.Equal(sample.Template, generate.Template);
        Assert.Equal("pad", generate.ImageAspectRatio);
    }

    [Theory]
    [InlineData("generate", "--model", "m", "--image", "none.png", "--prompt", "hi", "--image-aspect-ratio", "square")]
    [InlineData("eval", "pope", "--model", "m", "--image-aspect-ratio", "square")]
    [InlineData("eval", "describe", "--model", "m", "--image-aspect-ratio", "square")]
    [InlineData("demo", "--image-aspect-ratio", "square")]
    public void ABadImageAspectRatioIsAOneLineErrorWithExitCode2(params string[] args)
    {
        var r = CliProcess.Run(args);
        Assert.Equal(2, r.ExitCode);
        var lines = r.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Contains("--image-aspect-ratio 'square': expected pad or none", lines[0]);
    }
}
