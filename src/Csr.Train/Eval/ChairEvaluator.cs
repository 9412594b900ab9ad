namespace Csr.Train.Eval;

/// <summary>A caption to score and the object categories truly in its image.</summary>
public sealed record ChairCaption(string Id, string Caption, IReadOnlySet<string> GroundTruth);

/// <summary>Per-caption CHAIR outcome: every mention (word, category) and those not in the image.</summary>
public sealed record ChairCaptionResult(string Id, string Caption, IReadOnlyList<ObjectMention> Mentions,
    IReadOnlyList<ObjectMention> Hallucinated, IReadOnlyList<string> GroundTruth)
{
    public bool IsHallucinated => Hallucinated.Count > 0;
}

/// <summary>CHAIR_S = share of captions with at least one hallucinated object; CHAIR_I = hallucinated
/// object mentions / all object mentions (Rohrbach et al. 2018).</summary>
public sealed record ChairResult(double ChairS, double ChairI, int Captions, int Mentions, int HallucinatedMentions,
    IReadOnlyList<ChairCaptionResult> PerCaption)
{
    /// <summary>Object coverage (recall): distinct ground-truth categories mentioned / ground-truth categories, over
    /// all captions. Not part of CHAIR; reported beside it because a model that says less scores a lower CHAIR.</summary>
    public double Coverage
    {
        get
        {
            int truth = PerCaption.Sum(p => p.GroundTruth.Count);
            int covered = PerCaption.Sum(p => p.Mentions.Select(m => m.Category).Distinct().Count(p.GroundTruth.Contains));
            return truth == 0 ? 0 : covered / (double)truth;
        }
    }

    /// <summary>Mean object mentions per caption.</summary>
    public double MentionsPerCaption => Captions == 0 ? 0 : Mentions / (double)Captions;
}

/// <summary>Computes CHAIR over captions with an <see cref="ObjectLexicon"/>.</summary>
public sealed class ChairEvaluator(ObjectLexicon lexicon)
{
    public ObjectLexicon Lexicon { get; } = lexicon;

    public ChairCaptionResult Score(ChairCaption c)
    {
        var mentions = Lexicon.Extract(c.Caption);
        var hallucinated = mentions.Where(m => !c.GroundTruth.Contains(m.Category)).ToList();
        return new ChairCaptionResult(c.Id, c.Caption, mentions, hallucinated, c.GroundTruth.OrderBy(x => x, StringComparer.Ordinal).ToList());
    }

    public ChairResult Evaluate(IEnumerable<ChairCaption> captions)
    {
        var per = captions.Select(Score).ToList();
        int mentions = per.Sum(p => p.Mentions.Count);
        int halMentions = per.Sum(p => p.Hallucinated.Count);
        double chairS = per.Count == 0 ? 0 : per.Count(p => p.IsHallucinated) / (double)per.Count;
        double chairI = mentions == 0 ? 0 : halMentions / (double)mentions;
        return new ChairResult(chairS, chairI, per.Count, mentions, halMentions, per);
    }
}
