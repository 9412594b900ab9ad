using Csr.Models.Vision;
using static TorchSharp.torch;

namespace Csr.Train.World.Training;

/// <summary>Renders scenes straight to CLIP-normalised pixel tensors (what <see cref="ImageProcessor"/> makes of the
/// PNG at the same size: no resize or crop is needed, only rescale and normalise).</summary>
public static class WorldPixels
{
    /// <summary>[N, 3, S, S] float32.</summary>
    public static Tensor Build(SceneRenderer renderer, IReadOnlyList<Scene> scenes)
    {
        int s = renderer.ImageSize, n = scenes.Count;
        var data = new float[(long)n * 3 * s * s];
        var mean = ImageProcessorConfig.ClipMean;
        var std = ImageProcessorConfig.ClipStd;
        Parallel.For(0, n, new ParallelOptions { MaxDegreeOfParallelism = 2 }, i =>
        {
            var rgb = renderer.RenderRgb(scenes[i]);
            long off = (long)i * 3 * s * s;
            for (int c = 0; c < 3; c++)
                for (int p = 0; p < s * s; p++)
                    data[off + (long)c * s * s + p] = (float)((rgb[p * 3 + c] / 255.0 - mean[c]) / std[c]);
        });
        return tensor(data, new long[] { n, 3, s, s });
    }

    /// <summary>Per-cell labels [N, cells*cells]: 0 = empty, else 1 + index (shape index or colour index).</summary>
    public static Tensor CellLabels(IReadOnlyList<Scene> scenes, IReadOnlyList<int> idx, WorldVocabulary vocab, int cells, bool colour)
    {
        var y = new long[idx.Count * cells * cells];
        for (int a = 0; a < idx.Count; a++)
            foreach (var o in scenes[idx[a]].Objects)
            {
                int cx = Math.Min(cells - 1, (int)(o.X * cells)), cy = Math.Min(cells - 1, (int)(o.Y * cells));
                int k = colour ? vocab.Colours.Select(c => c.Name).ToList().IndexOf(o.Colour) : vocab.ShapeIndex(o.Shape);
                y[a * cells * cells + cy * cells + cx] = 1 + k;
            }
        return tensor(y, new long[] { idx.Count, cells * cells });
    }

    /// <summary>[B, shapes] multi-hot: which shapes are anywhere in each scene.</summary>
    public static Tensor PresenceLabels(IReadOnlyList<Scene> scenes, IReadOnlyList<int> idx, WorldVocabulary vocab)
    {
        int n = vocab.Shapes.Count;
        var y = new float[idx.Count * n];
        for (int a = 0; a < idx.Count; a++)
            foreach (var o in scenes[idx[a]].Objects)
                y[a * n + vocab.ShapeIndex(o.Shape)] = 1f;
        return tensor(y, new long[] { idx.Count, n });
    }
}
