using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Kernels;

public static partial class DpoLogRatio
{
    /// <summary>
    /// Fused CPU path: one read of each unmasked logits row (online logsumexp over <see cref="VocabChunk"/>
    /// chunks, vectorised, rows in parallel); masked rows are never read. Keeps only the per-row logsumexp
    /// <c>[N, T]</c> for the backward, which recomputes the softmax. Differentiable w.r.t. logits.
    /// </summary>
    public static Tensor SequenceLogProbsFused(Tensor logits, Tensor labels, Tensor mask)
    {
        CheckShapes(logits, labels, mask);
        return SequenceLogProbsFunction.apply(logits, labels, mask, (int)KernelPath.Fused);
    }

    /// <summary>
    /// Autograd Function: forward through the chosen engine (Fused / Ilgpu / Cuda), backward from the saved
    /// per-row logsumexp on the same engine (ILGPU after an ILGPU forward, the CUDA kernel after a CUDA forward
    /// when it is loaded, else the fused CPU one).
    /// </summary>
    internal sealed class SequenceLogProbsFunction : autograd.SingleTensorFunction<SequenceLogProbsFunction>
    {
        public override string Name => "Csr.Kernels.SequenceLogProbs";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var logits = (Tensor)vars[0];
            var labels = (Tensor)vars[1];
            var mask = (Tensor)vars[2];
            var engine = (KernelPath)(int)vars[3];
            var x = logits.detach().contiguous();                           // [N, T, V]
            var lab = labels.to(ScalarType.Int64).contiguous();             // [N, T]
            var valid = ValidMask(labels, mask).contiguous();               // [N, T] float 0/1
            var (rowLp, rowLse) = engine switch
            {
                KernelPath.Ilgpu => IlgpuRows(x, lab, valid),
                KernelPath.Cuda => CudaRows(x, lab, valid),
                _ => CpuRows(x, lab, valid),
            };
            var seq = SumRows(rowLp, x.shape[0], x.shape[1]);               // [N]
            rowLp.Dispose();
            ctx.save_for_backward(new List<Tensor> { x, lab, valid, rowLse });
            ctx.save_data("engine", engine);
            return seq;
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
        {
            var saved = ctx.get_saved_variables();
            var (x, lab, valid, rowLse) = (saved[0], saved[1], saved[2], saved[3]);
            var g = gradOutput.to(ScalarType.Float32).contiguous();          // [N]
            var engine = BackwardEngine((KernelPath)ctx.get_data("engine"));
            using var timing = KernelStats.Time(OpName + ".backward", engine);
            var grad = engine switch                                         // [N, T, V] like logits
            {
                KernelPath.Cuda => CudaBackward(x, lab, valid, rowLse, g),
                KernelPath.Ilgpu => IlgpuBackward(x, lab, valid, rowLse, g),
                _ => CpuBackward(x, lab, valid, rowLse, g),
            };
            return new List<Tensor> { grad, null!, null!, null! };
        }
    }

    /// <summary>
    /// The backward's path: ILGPU after an ILGPU forward; the CUDA kernel after a CUDA forward (on CUDA tensors, whose
    /// forward checked that the backward kernel is loaded); else the fused CPU one.
    /// </summary>
    internal static KernelPath BackwardEngine(KernelPath forward) => forward switch
    {
        KernelPath.Ilgpu => KernelPath.Ilgpu,
        KernelPath.Cuda => KernelPath.Cuda,
        _ => KernelPath.Fused,
    };

    /// <summary>
    /// Deterministic per-sequence sum of row log-probs <c>[N*T]</c> -&gt; <c>[N]</c> (float64 accumulation, fixed
    /// order on the CPU; libtorch's float64 row sum on the tensors' device otherwise).
    /// </summary>
    internal static unsafe Tensor SumRows(Tensor rowLp, long n, long t)
    {
        if (rowLp.device_type != DeviceType.CPU)
        {
            using var wide = rowLp.view(n, t).to(ScalarType.Float64);
            using var sum = wide.sum(1);
            return sum.to(ScalarType.Float32);
        }
        var outp = zeros(n, dtype: ScalarType.Float32);
        float* rp = TensorMemory.Ptr<float>(rowLp, "rowLp");
        float* op = TensorMemory.Ptr<float>(outp, "out");
        for (long i = 0; i < n; i++)
        {
            double s = 0;
            for (long j = 0; j < t; j++) s += rp[i * t + j];
            op[i] = (float)s;
        }
        GC.KeepAlive(rowLp);
        return outp;
    }

    /// <summary>Per row: lp = x[label] - lse and lse (both 0 for masked rows). Returns ([N*T], [N*T]).</summary>
    internal static unsafe (Tensor RowLp, Tensor RowLse) CpuRows(Tensor x, Tensor labels, Tensor valid)
    {
        long n = x.shape[0], t = x.shape[1];
        int v = (int)x.shape[2];
        long rows = n * t;
        var rowLp = zeros(rows, dtype: ScalarType.Float32);
        var rowLse = zeros(rows, dtype: ScalarType.Float32);
        long* lab = TensorMemory.Ptr<long>(labels, "labels");
        float* val = TensorMemory.Ptr<float>(valid, "mask");
        float* lp = TensorMemory.Ptr<float>(rowLp, "rowLp");
        float* lse = TensorMemory.Ptr<float>(rowLse, "rowLse");
        bool bf16 = x.dtype == ScalarType.BFloat16;
        nint xp = bf16 ? (nint)TensorMemory.Ptr<ushort>(x, "logits") : (nint)TensorMemory.Ptr<float>(x, "logits");
        CheckLabels(lab, val, rows, v, t);
        int block = RowMath.BlockRows(rows);
        Parallel.For(0, (rows + block - 1) / block, b =>
        {
            float* scratch = stackalloc float[VocabChunk];
            long end = Math.Min(rows, (b + 1) * block);
            for (long r = b * block; r < end; r++)
            {
                if (val[r] == 0f) continue;
                float l, xl;
                if (bf16)
                {
                    ushort* row = (ushort*)xp + r * v;
                    l = RowMath.LogSumExp(row, v, VocabChunk, scratch);
                    xl = Bf16.ToFloat(row[lab[r]]);
                }
                else
                {
                    float* row = (float*)xp + r * v;
                    l = RowMath.LogSumExp(row, v, VocabChunk);
                    xl = row[lab[r]];
                }
                lse[r] = l;
                lp[r] = xl - l;
            }
        });
        // the loops read raw pointers: the tensors behind them must not be finalized before the loops end
        GC.KeepAlive(x); GC.KeepAlive(labels); GC.KeepAlive(valid);
        return (rowLp, rowLse);
    }

    /// <summary>dlogits[r, :] = g[n] * valid[r] * (onehot(label[r]) - exp(x[r, :] - lse[r])), in the logits dtype.</summary>
    internal static unsafe Tensor CpuBackward(Tensor x, Tensor labels, Tensor valid, Tensor rowLse, Tensor g)
    {
        long n = x.shape[0], t = x.shape[1];
        int v = (int)x.shape[2];
        long rows = n * t;
        var grad = empty(x.shape, dtype: x.dtype);
        long* lab = TensorMemory.Ptr<long>(labels, "labels");
        float* val = TensorMemory.Ptr<float>(valid, "mask");
        float* lse = TensorMemory.Ptr<float>(rowLse, "rowLse");
        float* gp = TensorMemory.Ptr<float>(g, "grad_output");
        bool bf16 = x.dtype == ScalarType.BFloat16;
        nint xp = bf16 ? (nint)TensorMemory.Ptr<ushort>(x, "logits") : (nint)TensorMemory.Ptr<float>(x, "logits");
        nint op = bf16 ? (nint)TensorMemory.Ptr<ushort>(grad, "grad") : (nint)TensorMemory.Ptr<float>(grad, "grad");
        int block = RowMath.BlockRows(rows);
        Parallel.For(0, (rows + block - 1) / block, b =>
        {
            float* scratch = stackalloc float[VocabChunk];
            long end = Math.Min(rows, (b + 1) * block);
            for (long r = b * block; r < end; r++)
            {
                float scale = gp[r / t] * val[r];
                if (bf16)
                {
                    ushort* row = (ushort*)xp + r * v, o = (ushort*)op + r * v;
                    if (scale == 0f) { new Span<ushort>(o, v).Clear(); continue; }
                    for (int c = 0; c < v; c += VocabChunk)
                    {
                        int len = Math.Min(VocabChunk, v - c);
                        Bf16.ToFloat(row + c, scratch, len);
                        RowMath.ExpScale(scratch, scratch, len, lse[r], -scale);
                        long lc = lab[r] - c;
                        if (lc >= 0 && lc < len) scratch[lc] += scale;
                        Bf16.FromFloat(scratch, o + c, len);
                    }
                }
                else
                {
                    float* row = (float*)xp + r * v, o = (float*)op + r * v;
                    if (scale == 0f) { new Span<float>(o, v).Clear(); continue; }
                    RowMath.ExpScale(row, o, v, lse[r], -scale);
                    o[lab[r]] += scale;
                }
            }
        });
        GC.KeepAlive(x); GC.KeepAlive(labels); GC.KeepAlive(valid); GC.KeepAlive(rowLse); GC.KeepAlive(g);
        return grad;
    }

    internal static unsafe void CheckLabels(long* lab, float* val, long rows, int v, long t)
    {
        for (long r = 0; r < rows; r++)
            if (val[r] != 0f && lab[r] >= v)
                throw new ArgumentException($"labels: token id {lab[r]} at [{r / t}, {r % t}] is outside the vocabulary of {v}.", "labels");
    }
}
