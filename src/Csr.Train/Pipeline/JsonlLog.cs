using System.Text.Json;

namespace Csr.Train.Pipeline;

/// <summary>Machine-readable stage log: one JSON object per line, appended and flushed as it happens.</summary>
public sealed class JsonlLog
{
    readonly string _path;
    readonly object _gate = new();

    public JsonlLog(string path)
    {
        _path = path;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    public string FilePath => _path;

    public void Write(object record)
    {
        string line = JsonSerializer.Serialize(record);
        lock (_gate) File.AppendAllText(_path, line + "\n");
    }

    public void Write(string @event, object record)
    {
        var dict = JsonSerializer.SerializeToElement(record).EnumerateObject().ToDictionary(p => p.Name, p => (object)p.Value);
        var full = new Dictionary<string, object> { ["event"] = @event, ["time_utc"] = DateTime.UtcNow.ToString("O") };
        foreach (var (k, v) in dict) full[k] = v;
        Write((object)full);
    }
}
