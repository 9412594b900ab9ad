using static TorchSharp.torch;

namespace Csr.Kernels;

public static partial class BeamStep
{
    /// <summary>
    /// The composition of plain TorchSharp ops (float64 log_softmax rounded to float32, bincount, add, stable sort
    /// as topk), keeping min(C*B, B*V) candidates per group.
    /// </summary>
    public static BeamStepResult StepReference(Tensor logits, Tensor beamScores, Tensor? groupTokens, int groups, double diversityPenalty,
        int candidatesPerBeam = 2)
    {
        var (_, v, b) = CheckShapes(logits, beamScores, groupTokens, groups);
        int want = (int)Math.Min(candidatesPerBeam * b, b * v);
        using var scope = NewDisposeScope();
        var lp = nn.functional.log_softmax(logits.to(ScalarType.Float64), -1).to(ScalarType.Float32); // [G*B, V]
        var scores = beamScores.to(ScalarType.Float32);                          // [G*B]
        var tokens = new List<Tensor>();
        var parents = new List<Tensor>();
        var values = new List<Tensor>();
        for (int g = 0; g < groups; g++)
        {
            var s = lp.narrow(0, g * b, b);                                        // [B, V]
            if (g > 0 && diversityPenalty != 0 && groupTokens is not null)
            {
                var freq = bincount(groupTokens.narrow(0, 0, g * b).to(ScalarType.Int64), minlength: v).to(ScalarType.Float32); // [V]
                s = s - freq * (float)diversityPenalty;
            }
            s = s + scores.narrow(0, g * b, b).unsqueeze(1);                      // [B, V]
            var (sorted, idx) = s.reshape(-1).sort(0, descending: true, stable: true); // ties: lower flat index first
            var top = idx.narrow(0, 0, want);                                      // [C*B]
            values.Add(sorted.narrow(0, 0, want));
            tokens.Add(top.remainder(v));
            parents.Add(top.div(v, rounding_mode: RoundingMode.floor));
        }
        return new BeamStepResult(stack(tokens), stack(parents), stack(values)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// HF's exact composition (float32 log_softmax, penalty, + beam scores, <c>torch.topk(2B)</c> per group): the
    /// benchmark baseline. The values of <see cref="StepReference"/> within float32 rounding of the log-softmax;
    /// the same indices unless scores tie at the cut.
    /// </summary>
    public static BeamStepResult StepTopk(Tensor logits, Tensor beamScores, Tensor? groupTokens, int groups, double diversityPenalty)
    {
        var (_, v, b) = CheckShapes(logits, beamScores, groupTokens, groups);
        using var scope = NewDisposeScope();
        var lp = nn.functional.log_softmax(logits.to(ScalarType.Float32), -1);    // [G*B, V]
        var scores = beamScores.to(ScalarType.Float32);
        var tokens = new List<Tensor>();
        var parents = new List<Tensor>();
        var values = new List<Tensor>();
        for (int g = 0; g < groups; g++)
        {
            var s = lp.narrow(0, g * b, b);
            if (g > 0 && diversityPenalty != 0 && groupTokens is not null)
                s = s - bincount(groupTokens.narrow(0, 0, g * b).to(ScalarType.Int64), minlength: v).to(ScalarType.Float32) * (float)diversityPenalty;
            s = s + scores.narrow(0, g * b, b).unsqueeze(1);
            var (top, idx) = s.reshape(-1).topk(2 * (int)b);
            values.Add(top);
            tokens.Add(idx.remainder(v));
            parents.Add(idx.div(v, rounding_mode: RoundingMode.floor));
        }
        return new BeamStepResult(stack(tokens), stack(parents), stack(values)).MoveToOuterDisposeScope();
    }
}
