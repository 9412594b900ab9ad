namespace Csr.Train.Dpo;

/// <summary>
/// HF get_cosine_schedule_with_warmup: linear warmup over ceil(warmup_ratio * total) steps, then
/// cosine decay to 0 at <c>total</c>. <see cref="Factor"/> multiplies the base learning rate.
/// </summary>
public sealed record CosineSchedule(int TotalSteps, double WarmupRatio)
{
    public int WarmupSteps => (int)Math.Ceiling(WarmupRatio * TotalSteps);

    /// <param name="step">0-based optimizer step about to run.</param>
    public double Factor(int step)
    {
        int warm = WarmupSteps;
        if (step < warm) return (double)step / Math.Max(1, warm);
        double progress = (double)(step - warm) / Math.Max(1, TotalSteps - warm);
        return Math.Max(0.0, 0.5 * (1.0 + Math.Cos(Math.PI * progress)));
    }
}
