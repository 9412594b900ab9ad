using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Csr.Train.Report;

/// <summary>The goal checks of issue 5, computed from a report.</summary>
public sealed record ReportGoals(double BaseChairS, double FinalChairS, double RelativeChairSDrop,
    double? AblationFinalChairS, double BaseAdversarialF1, double FinalAdversarialF1)
{
    public double? BaseCoverage { get; init; }
    public double? FinalCoverage { get; init; }
    public double BaseAdversarialAcc { get; init; } = double.NaN;

    /// <summary>The CHAIR_S drop came with the model naming far fewer of the objects that are there (it says less).</summary>
    public bool CoverageCollapsed => BaseCoverage is { } b && FinalCoverage is { } f && f < b - 15;
    /// <summary>The base model answers the probes at chance, so keeping its POPE F1 means nothing.</summary>
    public bool PopeAtChance => BaseAdversarialAcc < 60;

    public bool ChairDropMet => RelativeChairSDrop >= 0.30;
    public bool BeatsAblation => AblationFinalChairS is { } ab && FinalChairS < ab;
    public bool PopeKept => FinalAdversarialF1 >= BaseAdversarialF1 - 1.0;

    /// <summary>Goals for the arm named <paramref name="csrArm"/> against <paramref name="ablationArm"/>.</summary>
    public static ReportGoals? From(ReportData data, string csrArm = "csr", string ablationArm = "ablation")
    {
        var csr = data.Arms.FirstOrDefault(a => a.Name == csrArm);
        if (csr is null || csr.Rounds.Count == 0) return null;
        var first = csr.Rounds.MinBy(r => r.Round)!;
        var last = csr.Rounds.MaxBy(r => r.Round)!;
        var ab = data.Arms.FirstOrDefault(a => a.Name == ablationArm)?.Rounds.MaxBy(r => r.Round);
        double Adv(RoundReport r) => r.Pope.TryGetValue("adversarial", out var p) ? p.F1 : double.NaN;
        double drop = first.ChairS == 0 ? 0 : (first.ChairS - last.ChairS) / first.ChairS;
        return new ReportGoals(first.ChairS, last.ChairS, drop, ab?.ChairS, Adv(first), Adv(last))
        {
            BaseCoverage = first.Coverage, FinalCoverage = last.Coverage,
            BaseAdversarialAcc = first.Pope.TryGetValue("adversarial", out var p0) ? p0.Acc : double.NaN,
        };
    }
}

/// <summary>Writes <c>report.json</c>, <c>report.md</c> and <c>report.png</c> into a folder.</summary>
public static class ReportWriter
{
    public static readonly JsonSerializerOptions Json = new() { WriteIndented = true };
    public static readonly string[] PopeSplits = ["random", "popular", "adversarial"];

    public sealed record Paths(string Json, string Markdown, string Plot);

    public static Paths Write(ReportData data, string dir)
    {
        Directory.CreateDirectory(dir);
        var paths = new Paths(Path.Combine(dir, "report.json"), Path.Combine(dir, "report.md"), Path.Combine(dir, "report.png"));
        WriteAtomic(paths.Json, Encoding.UTF8.GetBytes(JsonSerializer.Serialize(data, Json)));
        WriteAtomic(paths.Plot, ReportPlot.RenderPng(data));
        WriteAtomic(paths.Markdown, Encoding.UTF8.GetBytes(Markdown(data, Path.GetFileName(paths.Plot))));
        return paths;
    }

    public static ReportData Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"report not found: {path}", path);
        try { return JsonSerializer.Deserialize<ReportData>(File.ReadAllText(path), Json) ?? throw new InvalidDataException($"{path}: empty report"); }
        catch (JsonException ex) { throw new InvalidDataException($"{path}: not a report: {ex.Message}", ex); }
    }

    private static string F(double v) => double.IsNaN(v) ? "-" : v.ToString("0.0", CultureInfo.InvariantCulture);

    public static string Markdown(ReportData data, string plotFile)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# CSR on the embedded world");
        sb.AppendLine();
        sb.AppendLine($"Seed {data.Seed}. All metrics in percent. Round 0 is the base model; CHAIR is over greedy descriptions of held-out scenes " +
                      "(coverage: share of the objects present that the description names), POPE over yes/no probes of held-out scenes.");
        sb.AppendLine();
        sb.AppendLine("| arm | alpha | round | CHAIR_S | CHAIR_I | coverage | POPE rand F1 | POPE pop F1 | POPE adv F1 | adv acc | adv prec | adv rec | adv yes |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var arm in data.Arms)
            foreach (var r in arm.Rounds.OrderBy(r => r.Round))
            {
                PopeSplitReport? P(string s) => r.Pope.TryGetValue(s, out var p) ? p : null;
                var adv = P("adversarial");
                sb.AppendLine($"| {arm.Name} | {arm.Alpha.ToString("0.##", CultureInfo.InvariantCulture)} | {r.Round} | {F(r.ChairS)} | {F(r.ChairI)} | {F(r.Coverage ?? double.NaN)} | " +
                              $"{F(P("random")?.F1 ?? double.NaN)} | {F(P("popular")?.F1 ?? double.NaN)} | {F(adv?.F1 ?? double.NaN)} | " +
                              $"{F(adv?.Acc ?? double.NaN)} | {F(adv?.Precision ?? double.NaN)} | {F(adv?.Recall ?? double.NaN)} | {F(adv?.YesRatio ?? double.NaN)} |");
            }
        sb.AppendLine();
        sb.AppendLine($"![CHAIR_S and POPE adversarial F1 per round]({plotFile})");
        sb.AppendLine();

        var goals = ReportGoals.From(data);
        if (goals != null)
        {
            sb.AppendLine("## Goals (issue 5)");
            sb.AppendLine();
            sb.AppendLine($"- CHAIR_S {F(goals.BaseChairS)} -> {F(goals.FinalChairS)}: relative drop {F(100 * goals.RelativeChairSDrop)}% (goal >= 30%): {(goals.ChairDropMet ? "met" : "NOT met")}");
            if (goals.AblationFinalChairS is { } ab)
                sb.AppendLine($"- final CHAIR_S, CSR {F(goals.FinalChairS)} vs ablation (alpha 0) {F(ab)} (goal: CSR lower): {(goals.BeatsAblation ? "met" : "NOT met")}");
            if (goals.CoverageCollapsed)
                sb.AppendLine($"  - but coverage fell {F(goals.BaseCoverage!.Value)} -> {F(goals.FinalCoverage!.Value)}: much of the drop is the model naming fewer objects, not fewer wrong ones");
            sb.AppendLine($"- POPE adversarial F1 {F(goals.BaseAdversarialF1)} -> {F(goals.FinalAdversarialF1)} (goal: no more than 1 point lower): {(goals.PopeKept ? "met" : "NOT met")}");
            if (goals.PopeAtChance)
                sb.AppendLine($"  - but the base model answers the probes at chance (adversarial accuracy {F(goals.BaseAdversarialAcc)}), so this check says little");
            sb.AppendLine();
        }

        if (data.TimingsSeconds.Count > 0)
        {
            sb.AppendLine("## Time per stage");
            sb.AppendLine();
            sb.AppendLine("| stage | seconds |");
            sb.AppendLine("|---|---|");
            foreach (var (k, v) in data.TimingsSeconds) sb.AppendLine($"| {k} | {F(v)} |");
            sb.AppendLine();
        }

        if (data.Kernels.Count > 0)
        {
            sb.AppendLine("## Ops run (Csr.Kernels, all arms and rounds)");
            sb.AppendLine();
            foreach (var line in data.Kernels) sb.AppendLine($"- {line}");
            sb.AppendLine();
        }

        if (data.Examples.Count > 0)
        {
            sb.AppendLine("## Example preference pairs");
            sb.AppendLine();
            foreach (var e in data.Examples)
            {
                sb.AppendLine($"**{e.Arm}, round {e.Round}, {e.Image}** (objects: {string.Join(", ", e.GroundTruth)}). Prompt: {Inline(e.Prompt)}");
                sb.AppendLine();
                sb.AppendLine($"- chosen: {Inline(e.Chosen)}");
                sb.AppendLine($"- rejected: {Inline(e.Rejected)}");
                sb.AppendLine();
            }
        }

        if (data.Settings.Count > 0)
        {
            sb.AppendLine("## Settings");
            sb.AppendLine();
            foreach (var (k, v) in data.Settings) sb.AppendLine($"- {k}: {Inline(v)}");
            sb.AppendLine();
        }
        foreach (var n in data.Notes) sb.AppendLine($"> {n}").AppendLine();
        return sb.ToString();
    }

    private static string Inline(string s) => s.Replace("\n", " ").Replace("|", "\\|").Replace("<image>", "&lt;image&gt;");

    private static void WriteAtomic(string path, byte[] bytes)
    {
        var tmp = path + ".tmp";
        File.WriteAllBytes(tmp, bytes);
        File.Move(tmp, path, overwrite: true);
    }
}
