namespace Csr.Train.Cli;

/// <summary>All verbs of csr-train. Add a verb: an options class with [Verb] implementing ICliVerb, listed here.</summary>
public interface ICliVerb
{
    int Execute();
}

public static class VerbRegistry
{
    public static readonly Type[] Types =
    {
        typeof(InfoVerb),
    };

    public static int Execute(object options) => options is ICliVerb v ? v.Execute() : 1;
}
