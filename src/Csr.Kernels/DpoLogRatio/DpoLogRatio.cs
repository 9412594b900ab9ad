using Csr.Native.Profiling;
using static TorchSharp.torch;

namespace Csr.Kernels;

/// <summary>
/// Per-sequence summed log-probabilities of label tokens, the quantity DPO compares between policy and
/// reference: <c>logp[n] = sum_t mask[n,t] * log_softmax(logits[n,t,:])[labels[n,t]]</c>.
/// <para>
/// Shapes: logits <c>[N, T, V]</c> (float32 or bfloat16), labels <c>[N, T]</c> (int64; positions with a
/// negative label, e.g. -100, count as masked), mask <c>[N, T]</c> (any dtype; non-zero = counted). The
/// caller aligns logits and labels (for a causal LM: logits[:, :-1] with labels[:, 1:]). Output: <c>[N]</c>
/// float32, always computed in float32 (bf16 logits are widened element by element).
/// </para>
/// <para>
/// The fused paths never form the <c>[N, T, V]</c> log-softmax: each row's logsumexp is computed online over
/// vocabulary chunks, only the row's logsumexp is kept (<c>[N, T]</c> floats), and the backward recomputes
/// <c>dlogits = mask * g * (onehot(label) - softmax)</c> from the logits.
/// </para>
/// </summary>
public static partial class DpoLogRatio
{
    /// <summary>Vocabulary chunk of the online logsumexp (elements); V need not be a multiple.</summary>
    public const int VocabChunk = 2048;

    /// <summary>The op's name in <see cref="KernelStats"/> and kernels.json (forward; backward adds ".backward").</summary>
    public const string OpName = "DpoLogRatio.SequenceLogProbs";

    /// <summary>The forward op's name in <see cref="KernelStats"/> for <see cref="SequenceLogProbsFromHidden"/>.</summary>
    public const string FromHiddenOpName = "DpoLogRatio.SequenceLogProbsFromHidden";

    /// <summary>
    /// Summed label log-probs per sequence, <c>[N]</c>, through the chosen path (differentiable on every path).
    /// Cuda: CUDA tensors run the CUDA C kernels on their own device memory (<see cref="SequenceLogProbsCuda"/>);
    /// CPU tensors run the fused CPU path, noted in <see cref="KernelStats"/> as <c>cuda->fused: CPU tensors</c>.
    /// </summary>
    public static Tensor SequenceLogProbs(Tensor logits, Tensor labels, Tensor mask, KernelPath path = KernelPath.Fused)
    {
        using var range = Nvtx.Range("kernel DpoLogRatio.SequenceLogProbs");
        TensorDevices.RequireSame(OpName, (logits, nameof(logits)), (labels, nameof(labels)), (mask, nameof(mask)));
        var effective = Effective(OpName, path, logits);
        using var timing = KernelStats.Time(OpName, effective);
        return effective switch
        {
            KernelPath.Reference => SequenceLogProbsReference(logits, labels, mask),
            KernelPath.Fused => SequenceLogProbsFused(logits, labels, mask),
            KernelPath.Ilgpu => SequenceLogProbsIlgpu(logits, labels, mask),
            KernelPath.Cuda => SequenceLogProbsCuda(logits, labels, mask),
            _ => throw new ArgumentOutOfRangeException(nameof(path), path, "unknown kernel path"),
        };
    }

    /// <summary>
    /// The path that runs for <paramref name="path"/> on <paramref name="input"/>'s device: Cuda with CPU tensors
    /// becomes Fused (fallback recorded); Cuda with CUDA tensors checks that the forward and backward kernels are
    /// loaded and throws, naming <paramref name="op"/>, when they are not.
    /// </summary>
    internal static KernelPath Effective(string op, KernelPath path, Tensor input)
    {
        if (path != KernelPath.Cuda) return path;
        if (CudaPath.FallsBackOnCpu(op, input)) return KernelPath.Fused;
        bool bf16 = input.dtype == ScalarType.BFloat16;
        CudaPath.Require(op, input, CudaModule, bf16 ? "dpo_rows_bf16" : "dpo_rows_f32");
        CudaPath.Require(op + ".backward", input, CudaModule, bf16 ? "dpo_backward_bf16" : "dpo_backward_f32");
        return KernelPath.Cuda;
    }

    /// <summary>Validates shapes and dtypes; returns (N, T, V).</summary>
    internal static (long N, long T, long V) CheckShapes(Tensor logits, Tensor labels, Tensor mask)
    {
        if (logits.dim() != 3)
            throw new ArgumentException($"logits: expected [N, T, V], got [{string.Join(", ", logits.shape)}].", nameof(logits));
        if (logits.dtype != ScalarType.Float32 && logits.dtype != ScalarType.BFloat16)
            throw new ArgumentException($"logits: expected float32 or bfloat16, got {logits.dtype}.", nameof(logits));
        long n = logits.shape[0], t = logits.shape[1], v = logits.shape[2];
        if (labels.dim() != 2 || labels.shape[0] != n || labels.shape[1] != t)
            throw new ArgumentException($"labels: expected [{n}, {t}] to match logits, got [{string.Join(", ", labels.shape)}].", nameof(labels));
        if (mask.dim() != 2 || mask.shape[0] != n || mask.shape[1] != t)
            throw new ArgumentException($"mask: expected [{n}, {t}] to match logits, got [{string.Join(", ", mask.shape)}].", nameof(mask));
        if (labels.dtype is not (ScalarType.Int64 or ScalarType.Int32))
            throw new ArgumentException($"labels: expected int64 or int32 token ids, got {labels.dtype}.", nameof(labels));
        if (v > int.MaxValue) throw new ArgumentException($"logits: vocabulary {v} too large.", nameof(logits));
        return (n, t, v);
    }

    /// <summary>Float mask <c>[N, T]</c> of counted positions: mask != 0 and label &gt;= 0.</summary>
    internal static Tensor ValidMask(Tensor labels, Tensor mask) =>
        mask.ne(0).logical_and(labels.ge(0)).to(ScalarType.Float32);
}
