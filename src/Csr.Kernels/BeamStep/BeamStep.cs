using Csr.Native.Profiling;
using static TorchSharp.torch;

namespace Csr.Kernels;

/// <summary>
/// One step of HF-compatible diverse (group) beam search for G groups of B beams over vocabulary V.
/// For group g (rows g*B .. g*B+B-1 of logits <c>[G*B, V]</c>):
/// <code>
///   s = log_softmax(logits[g rows])                       // [B, V], float32
///   s -= penalty * bincount(groupTokens[0 : g*B], V)       // Hamming diversity (HF), groups before g only
///   s += beamScores[g rows][:, None]
///   best 2B of s.view(B*V) -> token = idx % V, parent = idx / V, score
/// </code>
/// <para>
/// Ties: candidates are ordered by score descending, then by flattened index (b*V + token) ascending. The
/// reference makes this explicit with a stable descending sort; torch.topk (what HF calls) returns the same
/// values and, when no two candidates at the cut have equal scores, the same indices (its order among exactly
/// equal scores is not specified on CPU). <paramref name="groupTokens"/> <c>[G*B]</c> holds the tokens the beams
/// of earlier groups chose at this step (HF <c>current_tokens</c>); entries of group g and later are ignored
/// for group g, so one call serves all groups when they are known, and <see cref="Prepare"/> +
/// <see cref="BeamStepRows.SelectGroup"/> serve group-by-group decoding with one pass over the logits.
/// </para>
/// </summary>
public static partial class BeamStep
{
    /// <summary>All groups at once through the chosen path.</summary>
    public static BeamStepResult Step(Tensor logits, Tensor beamScores, Tensor? groupTokens, int groups, double diversityPenalty,
        KernelPath path = KernelPath.Fused)
    {
        using var range = Nvtx.Range("kernel BeamStep.Step");
        var (rows, v, b) = CheckShapes(logits, beamScores, groupTokens, groups);
        if (path == KernelPath.Reference) return StepReference(logits, beamScores, groupTokens, groups, diversityPenalty);
        using var prepared = Prepare(logits, groups, path);
        return prepared.SelectAll(beamScores, groupTokens, diversityPenalty);
    }

    /// <summary>
    /// The one pass over the logits (per row: logsumexp and the top-K raw logits, K = 2B + (G-1)*B so that any
    /// penalty pattern of earlier groups can be resolved exactly), for <see cref="BeamStepRows.SelectGroup"/>.
    /// The logits tensor must stay alive and unchanged while the result is used.
    /// </summary>
    public static BeamStepRows Prepare(Tensor logits, int groups, KernelPath path = KernelPath.Fused)
    {
        using var range = Nvtx.Range("kernel BeamStep.Prepare");
        if (logits.dim() != 2) throw new ArgumentException($"logits: expected [G*B, V], got [{string.Join(", ", logits.shape)}].", nameof(logits));
        if (groups <= 0 || logits.shape[0] % groups != 0)
            throw new ArgumentException($"logits: {logits.shape[0]} rows is not a multiple of groups = {groups}.", nameof(groups));
        int b = (int)(logits.shape[0] / groups);
        int v = (int)logits.shape[1];
        int k = (int)Math.Min(v, 2L * b + (long)(groups - 1) * b);
        return path switch
        {
            KernelPath.Ilgpu => BeamStepRows.FromIlgpu(logits, groups, k),
            KernelPath.Cuda => BeamStepRows.FromCuda(logits, groups, k),
            _ => BeamStepRows.FromCpu(logits, groups, k),
        };
    }

    internal static (long Rows, long V, long B) CheckShapes(Tensor logits, Tensor beamScores, Tensor? groupTokens, int groups)
    {
        if (logits.dim() != 2) throw new ArgumentException($"logits: expected [G*B, V], got [{string.Join(", ", logits.shape)}].", nameof(logits));
        if (logits.dtype is not (ScalarType.Float32 or ScalarType.BFloat16))
            throw new ArgumentException($"logits: expected float32 or bfloat16, got {logits.dtype}.", nameof(logits));
        long rows = logits.shape[0], v = logits.shape[1];
        if (groups <= 0 || rows % groups != 0)
            throw new ArgumentException($"logits: {rows} rows is not a multiple of groups = {groups}.", nameof(groups));
        if (beamScores.dim() != 1 || beamScores.shape[0] != rows)
            throw new ArgumentException($"beamScores: expected [{rows}], got [{string.Join(", ", beamScores.shape)}].", nameof(beamScores));
        if (groupTokens is not null && (groupTokens.dim() != 1 || groupTokens.shape[0] != rows))
            throw new ArgumentException($"groupTokens: expected [{rows}], got [{string.Join(", ", groupTokens.shape)}].", nameof(groupTokens));
        long b = rows / groups;
        if (2 * b > b * v) throw new ArgumentException($"logits: 2B = {2 * b} candidates need B*V >= 2B, got V = {v}.", nameof(logits));
        return (rows, v, b);
    }
}
