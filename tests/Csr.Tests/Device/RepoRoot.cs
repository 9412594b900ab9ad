namespace Csr.Tests.Device;

/// <summary>The repository root (the folder holding Csr.sln) above the test binaries, or null outside a checkout.</summary>
internal static class RepoRoot
{
    public static string? Find()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Csr.sln"))) return d.FullName;
        return null;
    }
}

/// <summary>A fact that needs the source tree (Csr.sln above the test binaries); skipped with the reason otherwise.</summary>
public sealed class SourceTreeFactAttribute : FactAttribute
{
    public SourceTreeFactAttribute()
    {
        if (RepoRoot.Find() is null) Skip = $"no Csr.sln above {AppContext.BaseDirectory}: the source tree is not here";
    }
}
