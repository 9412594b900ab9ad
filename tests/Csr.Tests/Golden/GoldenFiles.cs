using System.Text.Json;
using static TorchSharp.torch;

namespace Csr.Tests.Golden;

/// <summary>Finds files under tests/golden/ (walking up from the test assembly) and reads the
/// {"shape": [...], "data": [...]} tensors the generator scripts write.</summary>
public static class GoldenFiles
{
    public static string? Find(string relative)
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null)
        {
            string p = Path.Combine(dir, "tests", "golden", relative);
            if (File.Exists(p) || Directory.Exists(p)) return p;
            dir = Path.GetDirectoryName(dir);
        }
        return null;
    }

    public static Tensor ReadTensor(JsonElement e)
    {
        var shape = e.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()).ToArray();
        var data = e.GetProperty("data").EnumerateArray().Select(x => (float)x.GetDouble()).ToArray();
        return tensor(data, shape);
    }

    public static Tensor ReadIds(JsonElement root, string key)
    {
        var shape = root.GetProperty(key + "_shape").EnumerateArray().Select(x => x.GetInt64()).ToArray();
        return tensor(root.GetProperty(key).EnumerateArray().Select(x => x.GetInt64()).ToArray(), shape);
    }
}

/// <summary>A fact that is skipped, with the reason shown, while its golden file is absent
/// (golden files that need transformers or a GPU are produced elsewhere and added later).</summary>
public sealed class GoldenFactAttribute : FactAttribute
{
    public GoldenFactAttribute(string relativePath, string generator)
    {
        if (GoldenFiles.Find(relativePath) is null)
            Skip = $"golden file tests/golden/{relativePath} is absent; generate it with tests/golden/{generator}";
    }
}
