using Csr.Train.Sampling;

namespace Csr.Tests.Pipeline;

/// <summary>Deterministic fake: continuation j of a node is a function of the node's answer ids.</summary>
internal sealed class FakeExpander(int beams, int salt = 0) : ISentenceExpander
{
    public const int Eos = 2, Period = 9;
    public static string Decode(IReadOnlyList<int> ids) => string.Concat(ids.Where(i => i != Eos).Select(i => i == Period ? "." : $"w{i} "));
    public long ForwardedTokens { get; private set; }
    public IDisposable? Start() => null;

    public IReadOnlyList<IReadOnlyList<SentenceContinuation>> Expand(IReadOnlyList<SearchNode> parents) =>
        parents.Select(p => (IReadOnlyList<SentenceContinuation>)Enumerable.Range(0, beams).Select(j =>
        {
            int h = Math.Abs(HashCode.Combine(p.AnswerIds.Length, p.AnswerIds.Sum(), j, salt)) % 97;
            int len = 1 + h % 4;
            var toks = Enumerable.Range(0, len).Select(k => 10 + (h + k) % 20).ToList();
            toks.Add(p.AnswerIds.Length > 12 && h % 3 == 0 ? Eos : Period);
            ForwardedTokens += toks.Count;
            return new SentenceContinuation(toks.ToArray(), -(h % 13) / 7.0, null);
        }).ToList()).ToList();
}

