using System.Text.Json;
using CommandLine;
using Csr.Native.Profiling;
using Csr.Train.Eval;
using Csr.Train.Report;
using Spectre.Console;

namespace Csr.Train.Cli;

/// <summary>
/// <c>csr-train eval pope|chair|describe|report ...</c>: evaluators for real benchmarks (POPE question files,
/// COCO CHAIR) with the same metric code the demo world uses. The first value is the sub-command.
/// </summary>
[Verb("eval", HelpText = "Evaluate: 'eval pope --model DIR --questions F.jsonl --images DIR', 'eval chair --captions F.jsonl --instances instances_val2014.json [--captions-gt captions_val2014.json]', 'eval describe --model DIR --images DIR --prompt TEXT --out F.jsonl', 'eval report --report report.json --out DIR'.")]
public sealed class EvalVerb : ComputeVerbBase, ICliVerb
{
    [Value(0, MetaName = "command", Required = true, HelpText = "pope | chair | describe | report")]
    public string Command { get; set; } = "";

    [Option("model", HelpText = "Model folder (HF llava-1.5 layout) for pope / describe.")]
    public string? Model { get; set; }

    [Option("questions", HelpText = "POPE question file (JSON lines: question_id, image, text, label).")]
    public string? Questions { get; set; }

    [Option("images", HelpText = "Folder with the images the questions / descriptions refer to.")]
    public string? Images { get; set; }

    [Option("captions", HelpText = "Generated captions (JSON lines or array: image_id or image, and caption).")]
    public string? Captions { get; set; }

    [Option("instances", HelpText = "COCO instances_val2014.json (ground-truth objects).")]
    public string? Instances { get; set; }

    [Option("captions-gt", HelpText = "COCO captions_val2014.json (objects named by reference captions count as present).")]
    public string? CaptionsGt { get; set; }

    [Option("prompt", Default = "Describe this image.", HelpText = "Question asked for every image (describe).")]
    public string Prompt { get; set; } = "Describe this image.";

    [Option("report", HelpText = "report.json to re-render (report).")]
    public string? Report { get; set; }

    [Option("out", HelpText = "Output file (answers / per-caption results / captions) or folder (report).")]
    public string? Out { get; set; }

    [Option("limit", Default = 0, HelpText = "Evaluate only the first N items (0 = all).")]
    public int Limit { get; set; }

    [Option("batch-size", Default = 8, HelpText = "Prompts per model call.")]
    public int BatchSize { get; set; } = 8;

    [Option("max-new-tokens", Default = 512, HelpText = "Longest description (describe).")]
    public int MaxNewTokens { get; set; } = 512;

    [Option("dtype", Default = "auto", HelpText = "Weights dtype for pope / describe: auto (bf16 on CUDA and on CPUs with AVX512_BF16 or AMX-BF16, else fp32), fp32 or bf16.")]
    public string DType { get; set; } = "auto";

    [Option("image-aspect-ratio", Default = "pad", HelpText = "Image preprocessing for pope / describe: pad (pad to square with the CLIP mean colour, then resize + center crop: LLaVA's model_vqa with LLaVA-1.5's image_aspect_ratio = pad) or none (resize + center crop only).")]
    public string ImageAspectRatio { get; set; } = "pad";

    /// <summary>How pope / describe open the model (device, dtype and image aspect ratio from the options).</summary>
    public VisionChatOpenOptions OpenOptions()
    {
        var aspect = ImageAspectRatioOption.Parse(ImageAspectRatio, "--image-aspect-ratio");
        var device = ResolveDevice();
        return new(StageVerbBase.ParseDType(DType, device), aspect, device);
    }

    public int Execute() => Command.ToLowerInvariant() switch
    {
        "pope" => Pope(),
        "chair" => Chair(),
        "describe" => Describe(),
        "report" => RenderReport(),
        _ => throw new CsrUserException($"unknown eval command '{Command}': use pope, chair, describe or report"),
    };

    private static string Need(string? value, string option, string command) =>
        string.IsNullOrEmpty(value) ? throw new CsrUserException($"eval {command} needs --{option}") : value;

    private IEnumerable<T> Limited<T>(IEnumerable<T> items) => Limit > 0 ? items.Take(Limit) : items;

    private int Pope()
    {
        using var range = Nvtx.Range("eval");
        var model = Need(Model, "model", "pope");
        var open = OpenOptions();
        var questions = Limited(PopeQuestionFile.Read(Need(Questions, "questions", "pope"))).ToList();
        var images = Need(Images, "images", "pope");
        CheckImages(images, questions.Select(q => q.Image));
        using var chat = VisionChatModelLoader.Open(model, open);
        var answers = RunBatched(chat, questions.Select(q => new VisionPrompt(Path.Combine(images, q.Image), q.Text)).ToList(), 16, "POPE");
        var metrics = PopeMetrics.Compute(questions.Select((q, i) => (q.LabelYes, PopeAnswerRule.IsYes(answers[i]))));
        if (Out != null)
            File.WriteAllLines(Out, questions.Select((q, i) => JsonSerializer.Serialize(new
            { question_id = q.QuestionId, image = q.Image, text = q.Text, label = q.Label, answer = answers[i], pred = PopeAnswerRule.IsYes(answers[i]) ? "yes" : "no" })));
        Cli.Summary("eval pope", new Dictionary<string, object?>
        {
            ["questions"] = questions.Count, ["tp"] = metrics.TruePositives, ["fp"] = metrics.FalsePositives,
            ["tn"] = metrics.TrueNegatives, ["fn"] = metrics.FalseNegatives, ["accuracy"] = metrics.Accuracy,
            ["precision"] = metrics.Precision, ["recall"] = metrics.Recall, ["f1"] = metrics.F1, ["yes_ratio"] = metrics.YesRatio,
            ["out"] = Out,
        }, _ => PrintPope(metrics, Cli.Out));
        return 0;
    }

    /// <summary>POPE metrics in the lines of the official evaluation script.</summary>
    public static void PrintPope(PopeMetrics m, TextWriter output)
    {
        output.WriteLine($"TP {m.TruePositives}  FP {m.FalsePositives}  TN {m.TrueNegatives}  FN {m.FalseNegatives}");
        output.WriteLine($"Accuracy: {m.Accuracy:F4}");
        output.WriteLine($"Precision: {m.Precision:F4}");
        output.WriteLine($"Recall: {m.Recall:F4}");
        output.WriteLine($"F1 score: {m.F1:F4}");
        output.WriteLine($"Yes ratio: {m.YesRatio:F4}");
    }

    private int Chair()
    {
        using var range = Nvtx.Range("eval");
        var captions = Limited(CaptionFile.Read(Need(Captions, "captions", "chair"))).ToList();
        var lexicon = CocoObjects.Lexicon();
        var gt = CocoChairData.LoadGroundTruth(Need(Instances, "instances", "chair"), CaptionsGt, lexicon);
        var items = captions.Select((c, i) => gt.TryGetValue(c.ImageId, out var objs)
            ? new ChairCaption(c.ImageId.ToString(System.Globalization.CultureInfo.InvariantCulture), c.Caption, objs)
            : throw new CsrUserException($"{Captions}: caption {i + 1} is for image {c.ImageId}, which has no annotations in {Instances}")).ToList();
        var r = new ChairEvaluator(lexicon).Evaluate(items);
        if (Out != null)
            File.WriteAllLines(Out, r.PerCaption.Select(p => JsonSerializer.Serialize(new
            {
                image_id = long.Parse(p.Id, System.Globalization.CultureInfo.InvariantCulture), caption = p.Caption,
                mentioned = p.Mentions.Select(m => new[] { m.Word, m.Category }),
                hallucinated = p.Hallucinated.Select(m => new[] { m.Word, m.Category }),
                ground_truth = p.GroundTruth, chair_s = p.IsHallucinated ? 1 : 0,
                chair_i = p.Mentions.Count == 0 ? 0.0 : p.Hallucinated.Count / (double)p.Mentions.Count,
            })));
        Cli.Summary("eval chair", new Dictionary<string, object?>
        {
            ["captions"] = r.Captions, ["mentions"] = r.Mentions, ["hallucinated_mentions"] = r.HallucinatedMentions,
            ["chair_s"] = 100 * r.ChairS, ["chair_i"] = 100 * r.ChairI, ["out"] = Out,
        }, _ =>
        {
            Cli.Out.WriteLine($"captions {r.Captions}, object mentions {r.Mentions}, hallucinated mentions {r.HallucinatedMentions}");
            Cli.Out.WriteLine($"CHAIR_S: {100 * r.ChairS:F2}");
            Cli.Out.WriteLine($"CHAIR_I: {100 * r.ChairI:F2}");
        });
        return 0;
    }

    private int Describe()
    {
        using var range = Nvtx.Range("eval");
        var model = Need(Model, "model", "describe");
        var open = OpenOptions();
        var images = Need(Images, "images", "describe");
        var output = Need(Out, "out", "describe");
        if (!Directory.Exists(images)) throw new DirectoryNotFoundException($"image folder not found: {images}");
        var files = Limited(Directory.EnumerateFiles(images)
            .Where(f => f.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".jpeg", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
            .OrderBy(f => f, StringComparer.Ordinal)).ToList();
        if (files.Count == 0) throw new CsrUserException($"no .jpg/.png images in {images}");
        using var chat = VisionChatModelLoader.Open(model, open);
        var answers = RunBatched(chat, files.Select(f => new VisionPrompt(f, Prompt)).ToList(), MaxNewTokens, "describe");
        CaptionFile.Write(output, files.Select((f, i) => new GeneratedCaption(IdOrIndex(f, i), Path.GetFileName(f), answers[i])));
        Cli.Summary("eval describe", new Dictionary<string, object?> { ["captions"] = files.Count, ["out"] = output },
            _ => Cli.Out.WriteLine($"wrote {files.Count} captions to {output}"));
        return 0;
    }

    private static long IdOrIndex(string file, int index)
    {
        try { return CaptionFile.ImageIdFromFileName(file); }
        catch (InvalidDataException) { return index; }
    }

    private int RenderReport()
    {
        var data = ReportWriter.Read(Need(Report, "report", "report"));
        var paths = ReportWriter.Write(data, Out ?? Path.GetDirectoryName(Path.GetFullPath(Report!))!);
        Cli.Summary("eval report", new Dictionary<string, object?> { ["report"] = paths.Markdown, ["report_json"] = paths.Json, ["plot"] = paths.Plot },
            _ => Cli.Out.WriteLine($"report: {paths.Markdown}"));
        return 0;
    }

    private static void CheckImages(string dir, IEnumerable<string> names)
    {
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"image folder not found: {dir}");
        var missing = names.Distinct().Where(n => !File.Exists(Path.Combine(dir, n))).Take(3).ToList();
        if (missing.Count > 0) throw new FileNotFoundException($"images missing in {dir}: {string.Join(", ", missing)}", Path.Combine(dir, missing[0]));
    }

    private IReadOnlyList<string> RunBatched(IVisionChatModel chat, IReadOnlyList<VisionPrompt> prompts, int maxNewTokens, string label)
    {
        var answers = new List<string>(prompts.Count);
        Cli.WithProgress(p =>
        {
            p.Start(label, prompts.Count);
            for (int i = 0; i < prompts.Count; i += Math.Max(1, BatchSize))
            {
                var batch = prompts.Skip(i).Take(Math.Max(1, BatchSize)).ToList();
                answers.AddRange(chat.Answer(batch, maxNewTokens));
                p.Advance(label, batch.Count);
            }
            return answers.Count;
        });
        return answers;
    }
}
