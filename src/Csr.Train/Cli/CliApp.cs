using CommandLine;

namespace Csr.Train.Cli;

/// <summary>Verb dispatch. Each verb lives in its own file as an options class + handler.</summary>
public static class CliApp
{
    public static int Run(string[] args)
    {
        var parser = new Parser(s => { s.HelpWriter = Console.Out; s.CaseInsensitiveEnumValues = true; });
        try
        {
            return parser.ParseArguments(args, VerbRegistry.Types)
                .MapResult(o => VerbRegistry.Execute(o), _ => 1);
        }
        catch (CsrUserException ex)
        {
            Console.Error.WriteLine($"error: {ex.Message}");
            return 2;
        }
    }
}

/// <summary>An error caused by the user's input (file, key, shape, option): printed without a stack trace.</summary>
public class CsrUserException(string message, Exception? inner = null) : Exception(message, inner);
