using SkiaSharp;

namespace Csr.Train.Report;

/// <summary>Draws the report's figure with SkiaSharp: CHAIR_S per round (left) and POPE F1 per round
/// for the adversarial split (right), one line per arm.</summary>
public static class ReportPlot
{
    private static readonly SKColor[] ArmColours = [new(214, 39, 40), new(31, 119, 180), new(44, 160, 44), new(148, 103, 189)];

    public static byte[] RenderPng(ReportData data, int width = 960, int height = 400, bool pixelFont = false)
    {
        using var text = new PlotText(pixelFont);
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul));
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(SKColors.White);
            var left = new SKRect(60, 40, width / 2f - 20, height - 60);
            var right = new SKRect(width / 2f + 60, 40, width - 20, height - 60);
            Panel(canvas, text, left, "CHAIR_S (%) - lower is better", data, r => r.ChairS);
            Panel(canvas, text, right, "POPE adversarial F1 (%)", data,
                r => r.Pope.TryGetValue("adversarial", out var p) ? p.F1 : double.NaN);
        }
        using var image = SKImage.FromBitmap(bitmap);
        using var png = image.Encode(SKEncodedImageFormat.Png, 100);
        return png.ToArray();
    }

    private static void Panel(SKCanvas canvas, PlotText text, SKRect area, string title, ReportData data, Func<RoundReport, double> value)
    {
        using var axis = new SKPaint { Color = SKColors.Black, StrokeWidth = 1.5f, IsAntialias = true, Style = SKPaintStyle.Stroke };
        using var grid = new SKPaint { Color = new SKColor(225, 225, 225), StrokeWidth = 1, Style = SKPaintStyle.Stroke };

        var values = data.Arms.SelectMany(a => a.Rounds.Select(value)).Where(v => !double.IsNaN(v)).ToList();
        int maxRound = Math.Max(1, data.Arms.SelectMany(a => a.Rounds).Select(r => r.Round).DefaultIfEmpty(1).Max());
        double lo = values.Count > 0 ? values.Min() : 0, hi = values.Count > 0 ? values.Max() : 1;
        double pad = Math.Max(1, (hi - lo) * 0.15);
        lo = Math.Max(0, Math.Floor(lo - pad)); hi = Math.Min(100, Math.Ceiling(hi + pad));
        if (hi <= lo) hi = lo + 1;

        float X(double round) => area.Left + (float)(round / maxRound) * area.Width;
        float Y(double v) => area.Bottom - (float)((v - lo) / (hi - lo)) * area.Height;

        text.Draw(canvas, title, area.Left, area.Top - 14, 15, SKTextAlign.Left, SKColors.Black, bold: true);
        for (int k = 0; k <= 4; k++)
        {
            double v = lo + (hi - lo) * k / 4;
            canvas.DrawLine(area.Left, Y(v), area.Right, Y(v), grid);
            text.Draw(canvas, v.ToString("0.#", System.Globalization.CultureInfo.InvariantCulture), area.Left - 8, Y(v) + 4, 13, SKTextAlign.Right, SKColors.Black);
        }
        for (int r = 0; r <= maxRound; r++)
            text.Draw(canvas, r == 0 ? "base" : $"r{r}", X(r), area.Bottom + 18, 13, SKTextAlign.Center, SKColors.Black);
        text.Draw(canvas, "round", area.MidX, area.Bottom + 38, 13, SKTextAlign.Center, SKColors.Black);
        canvas.DrawLine(area.Left, area.Top, area.Left, area.Bottom, axis);
        canvas.DrawLine(area.Left, area.Bottom, area.Right, area.Bottom, axis);

        for (int a = 0; a < data.Arms.Count; a++)
        {
            var arm = data.Arms[a];
            var colour = ArmColours[a % ArmColours.Length];
            using var line = new SKPaint { Color = colour, StrokeWidth = 2.5f, IsAntialias = true, Style = SKPaintStyle.Stroke };
            using var dot = new SKPaint { Color = colour, IsAntialias = true, Style = SKPaintStyle.Fill };
            var pts = arm.Rounds.Where(r => !double.IsNaN(value(r))).Select(r => new SKPoint(X(r.Round), Y(value(r)))).ToArray();
            for (int i = 1; i < pts.Length; i++) canvas.DrawLine(pts[i - 1], pts[i], line);
            foreach (var p in pts) canvas.DrawCircle(p, 4, dot);
            float ly = area.Top + 8 + 18 * a;
            canvas.DrawLine(area.Right - 150, ly, area.Right - 126, ly, line);
            text.Draw(canvas, $"{arm.Name} (alpha {arm.Alpha.ToString("0.##", System.Globalization.CultureInfo.InvariantCulture)})", area.Right - 120, ly + 4, 13, SKTextAlign.Left, SKColors.Black);
        }
    }
}
