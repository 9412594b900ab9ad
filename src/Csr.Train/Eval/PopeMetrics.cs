namespace Csr.Train.Eval;

/// <summary>POPE metrics with "yes" as the positive class, as the official evaluation computes them.</summary>
public sealed record PopeMetrics(double Accuracy, double Precision, double Recall, double F1, double YesRatio,
    int TruePositives, int FalsePositives, int TrueNegatives, int FalseNegatives)
{
    public int Total => TruePositives + FalsePositives + TrueNegatives + FalseNegatives;

    /// <param name="items">(label is yes, prediction is yes) per question.</param>
    public static PopeMetrics Compute(IEnumerable<(bool LabelYes, bool PredYes)> items)
    {
        int tp = 0, fp = 0, tn = 0, fn = 0;
        foreach (var (label, pred) in items)
        {
            if (pred && label) tp++;
            else if (pred && !label) fp++;
            else if (!pred && !label) tn++;
            else fn++;
        }
        int total = tp + fp + tn + fn;
        double precision = tp + fp == 0 ? 0 : tp / (double)(tp + fp);
        double recall = tp + fn == 0 ? 0 : tp / (double)(tp + fn);
        double f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
        double acc = total == 0 ? 0 : (tp + tn) / (double)total;
        double yes = total == 0 ? 0 : (tp + fp) / (double)total;
        return new PopeMetrics(acc, precision, recall, f1, yes, tp, fp, tn, fn);
    }
}
