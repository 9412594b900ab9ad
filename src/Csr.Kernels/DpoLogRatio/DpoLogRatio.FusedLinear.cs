using Csr.Native.Profiling;
using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Kernels;

public static partial class DpoLogRatio
{
    /// <summary>Rows of hidden states per chunk of the fused linear path (logits chunk = RowChunk x V).</summary>
    public const int RowChunk = 256;

    /// <summary>
    /// Fused linear + log-ratio (the stretch goal, as Liger-Kernel's fused linear losses / Cut Cross-Entropy):
    /// from final hidden states <c>[N, T, H]</c> and the lm_head weight <c>[V, H]</c>, only the counted rows
    /// are projected, <see cref="RowChunk"/> rows at a time, so at most a <c>[RowChunk, V]</c> logits block
    /// exists; the backward recomputes each block and accumulates <c>dH = dZ W</c> and <c>dW += dZ^T H</c>.
    /// Differentiable w.r.t. hidden and weight. Matmuls run in the inputs' dtype (bf16 is fast on this CPU). Each
    /// block's log-ratio rows run on <paramref name="path"/> (Reference and Fused: the fused CPU rows; Ilgpu: the
    /// ILGPU row kernel; Cuda: the CUDA C kernels on CUDA tensors' own device memory, the fused rows on CPU tensors
    /// with the fallback <c>cuda->fused: CPU tensors</c> recorded; see <see cref="SequenceLogProbsCuda"/>). On CUDA
    /// tensors every block, its outputs and the gradients stay on the tensors' device (<b>unverified on hardware</b>).
    /// </summary>
    /// <param name="hidden">Final hidden states <c>[N, T, H]</c> (float32 or bfloat16).</param>
    /// <param name="weight">lm_head weight <c>[V, H]</c>, hidden's dtype.</param>
    /// <param name="labels">Label token ids <c>[N, T]</c>; negative ids are masked.</param>
    /// <param name="mask">Counted positions <c>[N, T]</c> (non-zero = counted).</param>
    /// <param name="path">The path each block's rows run on.</param>
    /// <returns>Summed label log-probs <c>[N]</c> float32.</returns>
    public static Tensor SequenceLogProbsFromHidden(Tensor hidden, Tensor weight, Tensor labels, Tensor mask, KernelPath path = KernelPath.Fused)
    {
        using var range = Nvtx.Range("kernel DpoLogRatio.SequenceLogProbsFromHidden");
        TensorDevices.RequireSame(FromHiddenOpName, (hidden, nameof(hidden)), (weight, nameof(weight)), (labels, nameof(labels)), (mask, nameof(mask)));
        if (hidden.dim() != 3) throw new ArgumentException($"hidden: expected [N, T, H], got [{string.Join(", ", hidden.shape)}].", nameof(hidden));
        if (weight.dim() != 2 || weight.shape[1] != hidden.shape[2])
            throw new ArgumentException($"weight: expected [V, {hidden.shape[2]}], got [{string.Join(", ", weight.shape)}].", nameof(weight));
        if (weight.dtype != hidden.dtype) throw new ArgumentException($"weight: dtype {weight.dtype} differs from hidden's {hidden.dtype}.", nameof(weight));
        if (labels.dim() != 2 || labels.shape[0] != hidden.shape[0] || labels.shape[1] != hidden.shape[1] || !mask.shape.SequenceEqual(labels.shape))
            throw new ArgumentException($"labels/mask: expected [{hidden.shape[0]}, {hidden.shape[1]}], got [{string.Join(", ", labels.shape)}] / [{string.Join(", ", mask.shape)}].");
        var engine = path == KernelPath.Reference ? KernelPath.Fused : Effective(FromHiddenOpName, path, hidden);
        using var timing = KernelStats.Time(FromHiddenOpName, engine);
        return FusedLinearFunction.apply(hidden, weight, labels, mask, (int)engine);
    }

    internal sealed class FusedLinearFunction : autograd.SingleTensorFunction<FusedLinearFunction>
    {
        public override string Name => "Csr.Kernels.SequenceLogProbsFromHidden";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var hidden = ((Tensor)vars[0]).detach();
            var weight = ((Tensor)vars[1]).detach();
            var labels = (Tensor)vars[2];
            var mask = (Tensor)vars[3];
            var engine = (KernelPath)(int)vars[4];
            long n = hidden.shape[0], t = hidden.shape[1], h = hidden.shape[2];
            var valid = ValidMask(labels, mask).reshape(-1);                                  // [N*T]
            var rowsIdx = valid.nonzero().reshape(-1);                                         // [R] counted rows
            var flatLabels = labels.to(ScalarType.Int64).reshape(-1).index_select(0, rowsIdx).contiguous(); // [R]
            var hv = hidden.reshape(-1, h).index_select(0, rowsIdx);                           // [R, H]
            long r = rowsIdx.shape[0];
            var rowLp = zeros(r, dtype: ScalarType.Float32, device: hidden.device);
            var rowLse = zeros(r, dtype: ScalarType.Float32, device: hidden.device);
            for (long c = 0; c < r; c += RowChunk)
            {
                using var scope = NewDisposeScope();
                long len = Math.Min(RowChunk, r - c);
                var z = hv.narrow(0, c, len).mm(weight.t()).unsqueeze(0).contiguous();     // [1, len, V]
                var zl = flatLabels.narrow(0, c, len).unsqueeze(0).contiguous();
                var zv = ones(1, len, device: hidden.device);
                var (lp, lse) = engine switch
                {
                    KernelPath.Ilgpu => IlgpuRows(z, zl, zv),
                    KernelPath.Cuda => CudaRows(z, zl, zv, FromHiddenOpName),
                    _ => CpuRows(z, zl, zv),
                };
                rowLp.narrow(0, c, len).copy_(lp);
                rowLse.narrow(0, c, len).copy_(lse);
            }
            var perRow = zeros(n * t, dtype: ScalarType.Float32, device: hidden.device).index_copy_(0, rowsIdx, rowLp); // [N*T]
            var seq = SumRows(perRow.contiguous(), n, t);                                      // [N]
            ctx.save_for_backward(new List<Tensor> { hidden, weight, rowsIdx, flatLabels, rowLse });
            ctx.save_data("shape", new[] { n, t, h });
            ctx.save_data("engine", engine);
            return seq;
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
        {
            var saved = ctx.get_saved_variables();
            var (hidden, weight, rowsIdx, flatLabels, rowLse) = (saved[0], saved[1], saved[2], saved[3], saved[4]);
            var shape = (long[])ctx.get_data("shape");
            var engine = BackwardEngine((KernelPath)ctx.get_data("engine"));
            using var timing = KernelStats.Time(FromHiddenOpName + ".backward", engine);
            long t = shape[1], h = shape[2];
            long r = rowsIdx.shape[0];
            var g = gradOutput.to(ScalarType.Float32);
            var rowScale = g.index_select(0, rowsIdx.div(t, rounding_mode: RoundingMode.floor)).contiguous(); // [R] g of each row's sequence
            var hv = hidden.reshape(-1, h).index_select(0, rowsIdx);                           // [R, H]
            var gradHv = zeros(r, h, dtype: hidden.dtype, device: hidden.device);
            var gradW = zeros(weight.shape, dtype: ScalarType.Float32, device: hidden.device);
            var one = ones(1, dtype: ScalarType.Float32, device: hidden.device);
            for (long c = 0; c < r; c += RowChunk)
            {
                using var scope = NewDisposeScope();
                long len = Math.Min(RowChunk, r - c);
                var hc = hv.narrow(0, c, len);                                                 // [len, H]
                var z = hc.mm(weight.t()).unsqueeze(0).contiguous();                         // [1, len, V] recomputed
                var zl = flatLabels.narrow(0, c, len).unsqueeze(0).contiguous();
                var zv = rowScale.narrow(0, c, len).unsqueeze(0).contiguous();
                var zlse = rowLse.narrow(0, c, len).contiguous();
                var dz = (engine switch
                {
                    KernelPath.Cuda => CudaBackward(z, zl, zv, zlse, one, FromHiddenOpName),
                    KernelPath.Ilgpu => IlgpuBackward(z, zl, zv, zlse, one),
                    _ => CpuBackward(z, zl, zv, zlse, one),
                }).squeeze(0);                                                                  // [len, V]
                gradHv.narrow(0, c, len).copy_(dz.mm(weight));
                gradW.add_(dz.t().mm(hc).to(ScalarType.Float32));
            }
            var gradHidden = zeros(hidden.shape[0] * t, h, dtype: hidden.dtype, device: hidden.device).index_copy_(0, rowsIdx, gradHv).reshape(hidden.shape);
            return new List<Tensor> { gradHidden, gradW.to(weight.dtype), null!, null!, null! };
        }
    }
}
