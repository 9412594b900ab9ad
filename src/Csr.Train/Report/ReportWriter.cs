using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Csr.Train.Report;

/// <summary>
/// The checks report.md and the demo show: the CSR arm's last round against the base model (CHAIR_S drop, POPE
/// adversarial F1 kept), and CSR against the ablation at one round both arms reached (the last such round).
/// </summary>
public sealed record ReportChecks(double BaseChairS, double FinalChairS, double RelativeChairSDrop,
    double BaseAdversarialF1, double FinalAdversarialF1)
{
    /// <summary>The CSR arm's last evaluated round.</summary>
    public int FinalRound { get; init; }
    /// <summary>The round CSR and the ablation are compared at: the last round both reached (null: no ablation round).</summary>
    public int? ComparedRound { get; init; }
    /// <summary>The ablation arm's last evaluated round (null: no ablation arm).</summary>
    public int? AblationLastRound { get; init; }
    /// <summary>CHAIR_S of the CSR and of the ablation arm at <see cref="ComparedRound"/>.</summary>
    public double? CsrChairSAtComparedRound { get; init; }
    public double? AblationChairSAtComparedRound { get; init; }
    public double? BaseCoverage { get; init; }
    public double? FinalCoverage { get; init; }
    public double BaseAdversarialAcc { get; init; } = double.NaN;

    /// <summary>The CHAIR_S drop came with the model naming far fewer of the objects that are there (it says less).</summary>
    public bool CoverageCollapsed => BaseCoverage is { } b && FinalCoverage is { } f && f < b - 10;
    /// <summary>The base model answers the probes at chance, so keeping its POPE F1 means nothing.</summary>
    public bool PopeAtChance => BaseAdversarialAcc < 60;
    /// <summary>The arms stopped at different rounds, so the comparison is at an earlier round than one of them reached.</summary>
    public bool ArmsStoppedApart => ComparedRound is int k && (k != FinalRound || AblationLastRound != k);

    public bool ChairDropMet => RelativeChairSDrop >= 0.30;
    public bool BeatsAblation => CsrChairSAtComparedRound is { } c && AblationChairSAtComparedRound is { } ab && c < ab;
    public bool PopeKept => FinalAdversarialF1 >= BaseAdversarialF1 - 1.0;

    /// <summary>Checks for the arm named <paramref name="csrArm"/> against <paramref name="ablationArm"/>; null when the
    /// CSR arm has no round after the base model (<c>--rounds 0</c>, or it failed in its first round).</summary>
    public static ReportChecks? From(ReportData data, string csrArm = "csr", string ablationArm = "ablation")
    {
        var csr = data.Arms.FirstOrDefault(a => a.Name == csrArm);
        if (csr is null || csr.Rounds.Count == 0) return null;
        var first = csr.Rounds.MinBy(r => r.Round)!;
        var last = csr.Rounds.MaxBy(r => r.Round)!;
        if (last.Round == first.Round) return null;
        var ab = data.Arms.FirstOrDefault(a => a.Name == ablationArm);
        int? abLast = ab is { Rounds.Count: > 0 } ? ab.Rounds.Max(r => r.Round) : null;
        int? compared = abLast is int al && Math.Min(al, last.Round) > first.Round ? Math.Min(al, last.Round) : null;
        RoundReport? At(ArmReport arm, int? round) => round is int k ? arm.Rounds.FirstOrDefault(r => r.Round == k) : null;
        var csrAt = At(csr, compared);
        var abAt = ab is null ? null : At(ab, compared);
        double Adv(RoundReport r) => r.Pope.TryGetValue("adversarial", out var p) ? p.F1 : double.NaN;
        double drop = first.ChairS == 0 ? 0 : (first.ChairS - last.ChairS) / first.ChairS;
        return new ReportChecks(first.ChairS, last.ChairS, drop, Adv(first), Adv(last))
        {
            FinalRound = last.Round, ComparedRound = csrAt != null && abAt != null ? compared : null, AblationLastRound = abLast,
            CsrChairSAtComparedRound = abAt != null ? csrAt?.ChairS : null, AblationChairSAtComparedRound = csrAt != null ? abAt?.ChairS : null,
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
    private static string F2(double v) => double.IsNaN(v) ? "-" : v.ToString("0.00", CultureInfo.InvariantCulture);

    /// <summary>The check lines of report.md (markdown list items), also printed by the demo.</summary>
    public static IReadOnlyList<string> CheckLines(ReportChecks c)
    {
        var lines = new List<string>
        {
            $"- CHAIR_S {F(c.BaseChairS)} -> {F(c.FinalChairS)} (base -> CSR round {c.FinalRound}): relative drop {F(100 * c.RelativeChairSDrop)}% (target >= 30%): {(c.ChairDropMet ? "met" : "NOT met")}",
        };
        if (c.CoverageCollapsed)
            lines.Add($"  - but coverage fell {F(c.BaseCoverage!.Value)} -> {F(c.FinalCoverage!.Value)} (more than 10 points): much of the drop is the model naming fewer objects, not fewer wrong ones");
        else if (c.BaseCoverage is { } bc && c.FinalCoverage is { } fc)
            lines.Add($"  - coverage {F(bc)} -> {F(fc)} (no more than 10 points lower): the model names as many of the objects present");
        if (c.ComparedRound is int k)
        {
            lines.Add($"- CHAIR_S at round {k}, CSR {F(c.CsrChairSAtComparedRound!.Value)} vs ablation (alpha 0) {F(c.AblationChairSAtComparedRound!.Value)} (target: CSR lower): {(c.BeatsAblation ? "met" : "NOT met")}");
            if (c.ArmsStoppedApart)
                lines.Add($"  - compared at round {k}, the last round both arms reached (CSR reached round {c.FinalRound}, the ablation round {c.AblationLastRound})");
        }
        else if (c.AblationLastRound is not null)
            lines.Add("- CSR vs ablation: not compared, the ablation arm reached no round after the base model");
        lines.Add($"- POPE adversarial F1 {F(c.BaseAdversarialF1)} -> {F(c.FinalAdversarialF1)} (target: no more than 1 point lower): {(c.PopeKept ? "met" : "NOT met")}");
        if (c.PopeAtChance)
            lines.Add($"  - but the base model answers the probes at chance (adversarial accuracy {F(c.BaseAdversarialAcc)}), so this check says little");
        return lines;
    }

    public static string Markdown(ReportData data, string plotFile)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# CSR on the embedded world");
        sb.AppendLine();
        sb.AppendLine($"Seed {data.Seed}. All metrics in percent. Round 0 is the base model; CHAIR is over greedy descriptions of held-out scenes " +
                      "(coverage: share of the objects present that the description names; objects: object mentions per description), " +
                      "POPE over yes/no probes of held-out scenes (F1 of the three splits, then the adversarial split's accuracy, precision, recall and yes-ratio).");
        sb.AppendLine();
        sb.AppendLine("| arm | alpha | round | CHAIR_S | CHAIR_I | coverage | objects | POPE rand F1 | POPE pop F1 | POPE adv F1 | adv acc | adv prec | adv rec | adv yes |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var arm in data.Arms)
            foreach (var r in arm.Rounds.OrderBy(r => r.Round))
            {
                PopeSplitReport? P(string s) => r.Pope.TryGetValue(s, out var p) ? p : null;
                var adv = P("adversarial");
                sb.AppendLine($"| {arm.Name} | {arm.Alpha.ToString("0.##", CultureInfo.InvariantCulture)} | {r.Round} | {F(r.ChairS)} | {F(r.ChairI)} | {F(r.Coverage ?? double.NaN)} | {F2(r.ObjectsPerCaption ?? double.NaN)} | " +
                              $"{F(P("random")?.F1 ?? double.NaN)} | {F(P("popular")?.F1 ?? double.NaN)} | {F(adv?.F1 ?? double.NaN)} | " +
                              $"{F(adv?.Acc ?? double.NaN)} | {F(adv?.Precision ?? double.NaN)} | {F(adv?.Recall ?? double.NaN)} | {F(adv?.YesRatio ?? double.NaN)} |");
            }
        sb.AppendLine();
        sb.AppendLine($"![CHAIR_S and POPE adversarial F1 per round]({plotFile})");
        sb.AppendLine();

        var checks = ReportChecks.From(data);
        if (checks != null)
        {
            sb.AppendLine("## Checks");
            sb.AppendLine();
            foreach (var line in CheckLines(checks)) sb.AppendLine(line);
            sb.AppendLine();
        }
        var stopped = data.Arms.Where(a => a.Error != null).ToList();
        if (stopped.Count > 0)
        {
            sb.AppendLine("## Arms that stopped early");
            sb.AppendLine();
            foreach (var a in stopped) sb.AppendLine($"- {a.Name}: {Inline(a.Error!)}");
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
        var tmp = $"{path}.{Environment.ProcessId}-{Guid.NewGuid():N}.tmp"; // unique: concurrent writers never share it
        File.WriteAllBytes(tmp, bytes);
        File.Move(tmp, path, overwrite: true);
    }
}
