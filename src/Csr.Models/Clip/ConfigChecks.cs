using System.Text.Json;
using System.Text.Json.Serialization;

namespace Csr.Models.Clip;

internal static class ConfigChecks
{
    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        NumberHandling = JsonNumberHandling.AllowReadingFromString,
        WriteIndented = true,
    };

    public static void Positive(int value, string key)
    {
        if (value <= 0) throw new ArgumentException($"{key} must be positive, got {value}.");
    }
}
