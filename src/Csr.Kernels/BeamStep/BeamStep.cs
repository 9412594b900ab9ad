using Csr.Native.Profiling;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Kernels;

/// <summary>
/// One step of HF-compatible diverse (group) beam search for G groups of B beams over vocabulary V, keeping
/// C candidates per beam (HF: C = max(2, 1 + number of stop ids), so that a group always has B candidates
/// that do not stop; C = 2 is HF's older fixed <c>2 * group_size</c>). For group g (rows g*B .. g*B+B-1 of
/// logits <c>[G*B, V]</c>):
/// <code>
///   s = float32(log_softmax(float64(logits[g rows])))     // [B, V]
///   s -= penalty * bincount(groupTokens[0 : g*B], V)       // Hamming diversity (HF), groups before g only
///   s += beamScores[g rows][:, None]
///   best min(C*B, B*V) of s.view(B*V) -> token = idx % V, parent = idx / V, score
/// </code>
/// <para>
/// The log-softmax is taken in float64 and rounded to float32, so a log-prob is the correctly rounded value
/// whatever the CPU's vector width, and the fused pass (float64 sums) reproduces it bit for bit.
/// Ties: candidates are ordered by score descending, then by flattened index (b*V + token) ascending. The
/// reference makes this explicit with a stable descending sort; torch.topk (what HF calls) returns the same
/// values and, when no two candidates at the cut have equal scores, the same indices (its order among exactly
/// equal scores is not specified on CPU). <c>groupTokens</c> <c>[G*B]</c> holds the tokens the beams
/// of earlier groups chose at this step (HF <c>current_tokens</c>); entries of group g and later are ignored
/// for group g, so one call serves all groups when they are known, and <see cref="Prepare"/> +
/// <see cref="BeamStepRows.SelectGroup"/> serve group-by-group decoding with one pass over the logits.
/// </para>
/// <para>
/// Every call is counted in <see cref="KernelStats"/> under <see cref="OpName"/> and the path that ran.
/// </para>
/// </summary>
public static partial class BeamStep
{
    /// <summary>The op's name in <see cref="KernelStats"/> and kernels.json.</summary>
    public const string OpName = "BeamStep";

    /// <summary>All groups at once through the chosen path.</summary>
    public static BeamStepResult Step(Tensor logits, Tensor beamScores, Tensor? groupTokens, int groups, double diversityPenalty,
        KernelPath path = KernelPath.Fused, int candidatesPerBeam = 2)
    {
        using var range = Nvtx.Range("kernel BeamStep.Step");
        CheckShapes(logits, beamScores, groupTokens, groups);
        TensorDevices.RequireSame(OpName, (logits, nameof(logits)), (beamScores, nameof(beamScores)), (groupTokens, nameof(groupTokens)));
        if (path == KernelPath.Reference)
        {
            using var t = KernelStats.Time(OpName, KernelPath.Reference);
            return StepReference(logits, beamScores, groupTokens, groups, diversityPenalty, candidatesPerBeam);
        }
        using var prepared = Prepare(logits, groups, path, candidatesPerBeam);
        return prepared.SelectAll(beamScores, groupTokens, diversityPenalty);
    }

    /// <summary>
    /// The one pass over the logits (per row: max, log-sum-exp and the top-K raw logits, K = C*B + (G-1)*B so
    /// that any penalty pattern of earlier groups can be resolved exactly), for <see cref="BeamStepRows.SelectGroup"/>.
    /// The logits tensor must stay alive and unchanged while the result is used. Reference (no two-phase form of
    /// its own) and Fused make the fused CPU pass. Cuda on CUDA logits runs the CUDA C row kernel on the logits in
    /// place (<b>unverified on hardware</b>; an error naming the op when no kernel is loaded or K exceeds
    /// <see cref="BeamStepRows.MaxGpuK"/>); Cuda on CPU logits makes the fused CPU pass, noted in
    /// <see cref="KernelStats"/> as <c>cuda->fused: CPU tensors</c>. Ilgpu falls back to the fused pass when K exceeds
    /// <see cref="BeamStepRows.MaxGpuK"/>.
    /// </summary>
    /// <param name="logits">Next-token logits <c>[G*B, V]</c>, float32 or bfloat16.</param>
    /// <param name="groups">Number of beam groups G.</param>
    /// <param name="path">The path of the row pass.</param>
    /// <param name="candidatesPerBeam">Candidates per beam C.</param>
    /// <returns>The row pass; dispose it when the step is done.</returns>
    public static BeamStepRows Prepare(Tensor logits, int groups, KernelPath path = KernelPath.Fused, int candidatesPerBeam = 2)
    {
        using var range = Nvtx.Range("kernel BeamStep.Prepare");
        if (logits.dim() != 2) throw new ArgumentException($"logits: expected [G*B, V], got [{string.Join(", ", logits.shape)}].", nameof(logits));
        if (logits.dtype is not (ScalarType.Float32 or ScalarType.BFloat16))
            throw new ArgumentException($"logits: expected float32 or bfloat16, got {logits.dtype}.", nameof(logits));
        long rows = logits.size(0);                        // one native call per size read: this runs per beam row group and step
        if (groups <= 0 || rows % groups != 0)
            throw new ArgumentException($"logits: {rows} rows is not a multiple of groups = {groups}.", nameof(groups));
        TensorDevices.RequireSame(OpName, (logits, nameof(logits)));
        if (candidatesPerBeam < 1) throw new ArgumentOutOfRangeException(nameof(candidatesPerBeam), candidatesPerBeam, "candidates per beam must be >= 1.");
        int b = (int)(rows / groups);
        int v = (int)logits.size(1);
        long want = Math.Min((long)candidatesPerBeam * b, (long)b * v);
        int k = (int)Math.Min(v, want + (long)(groups - 1) * b);
        var effective = path == KernelPath.Reference ? KernelPath.Fused : path;
        if (effective == KernelPath.Cuda && CudaPath.FallsBackOnCpu(OpName, logits)) effective = KernelPath.Fused;
        if (effective is KernelPath.Ilgpu or KernelPath.Cuda && k > BeamStepRows.MaxGpuK)
        {
            if (logits.device_type == DeviceType.CUDA)
                throw new ArgumentException($"{OpName}: K = {k} exceeds the GPU row kernel's {BeamStepRows.MaxGpuK} and the logits are on {logits.device}; " +
                    "use fewer groups or beams, or pass CPU logits to run the fused CPU pass.", nameof(logits));
            KernelStats.Fallback(OpName, effective, KernelPath.Fused, $"K = {k} exceeds the GPU row kernel's {BeamStepRows.MaxGpuK}");
            effective = KernelPath.Fused;
        }
        (Csr.Native.Cuda.CudaKernelRuntime, IntPtr)? cuda = effective == KernelPath.Cuda ? BeamStepRows.ResolveCuda(logits) : null;
        using var timing = KernelStats.Time(OpName, effective);
        return effective switch
        {
            KernelPath.Ilgpu => BeamStepRows.FromIlgpu(logits, groups, candidatesPerBeam, k),
            KernelPath.Cuda => BeamStepRows.FromCuda(logits, groups, candidatesPerBeam, k, cuda!.Value),
            _ => BeamStepRows.FromCpu(logits, groups, candidatesPerBeam, k),
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
        return (rows, v, rows / groups);
    }
}
