using TorchSharp;
using static TorchSharp.torch;

namespace Csr.Models.Clip;

/// <summary>Deterministic random initialisation from a generator (tiny test / demo models):
/// layer norms weight 1 bias 0, other biases 0, every other tensor ~ N(0, std);
/// a 0-dim <c>logit_scale</c> is left at its configured value.</summary>
public static class ClipInit
{
    public static void InitWeights(nn.Module module, Generator g, double std = 0.02)
    {
        using var _ = no_grad();
        foreach (var (name, p) in module.named_parameters())
        {
            bool norm = name.Contains("layer_norm") || name.Contains("layernorm") || name.Contains("layrnorm");
            if (p.dim() == 0) continue;
            if (norm && name.EndsWith(".weight")) p.fill_(1.0);
            else if (name.EndsWith(".bias")) p.zero_();
            else p.normal_(0, std, g);
        }
    }
}
