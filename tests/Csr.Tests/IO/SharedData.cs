namespace Csr.Tests.IO;

/// <summary>
/// Finds files of the project's shared data (<c>../shared/data</c> from the repository root, or any
/// ancestor's <c>shared/data</c>; <c>CSR_SHARED_DATA</c> overrides). Never copied into the repo.
/// </summary>
public static class SharedData
{
    public static string? Find(string fileName)
    {
        var env = Environment.GetEnvironmentVariable("CSR_SHARED_DATA");
        if (!string.IsNullOrEmpty(env) && File.Exists(Path.Combine(env, fileName))) return Path.Combine(env, fileName);
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
        {
            var p = Path.Combine(d.FullName, "shared", "data", fileName);
            if (File.Exists(p)) return p;
        }
        return null;
    }
}

/// <summary>A fact that is reported as skipped (not passed) when a shared data file is absent.</summary>
public sealed class SharedDataFactAttribute : FactAttribute
{
    public SharedDataFactAttribute(string fileName)
    {
        if (SharedData.Find(fileName) is null) Skip = $"shared data file {fileName} not found (looked for shared/data/ above {AppContext.BaseDirectory})";
    }
}
