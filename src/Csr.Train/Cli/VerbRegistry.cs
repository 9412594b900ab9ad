using System.Reflection;
using CommandLine;

namespace Csr.Train.Cli;

/// <summary>A csr-train verb: an options class marked [Verb(...)] that implements this interface.</summary>
public interface ICliVerb
{
    int Execute();
}

/// <summary>
/// Verbs are discovered by reflection: every non-abstract ICliVerb with a [Verb] attribute in this
/// assembly is a verb, so adding one means adding one file (no shared list to edit).
/// </summary>
public static class VerbRegistry
{
    public static readonly Type[] Types = typeof(VerbRegistry).Assembly.GetTypes()
        .Where(t => !t.IsAbstract && typeof(ICliVerb).IsAssignableFrom(t) && t.GetCustomAttribute<VerbAttribute>() != null)
        .OrderBy(t => t.GetCustomAttribute<VerbAttribute>()!.Name, StringComparer.Ordinal)
        .ToArray();

    public static int Execute(object options) => options is ICliVerb v ? v.Execute() : 1;
}
