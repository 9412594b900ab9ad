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
        catch (Exception ex) when (IsUserError(ex))
        {
            Console.Error.WriteLine($"error: {ex.Message}");
            if (Environment.GetEnvironmentVariable("CSR_DEBUG") == "1") Console.Error.WriteLine(ex);
            return 2;
        }
    }

    /// <summary>Errors caused by input (files, keys, shapes, options): reported in one line, no stack trace.</summary>
    public static bool IsUserError(Exception ex) =>
        ex is CsrUserException or InvalidDataException or FileNotFoundException or DirectoryNotFoundException
            or ArgumentException or FormatException or System.Text.Json.JsonException or InsufficientMemoryException;
}

/// <summary>An error caused by the user's input (file, key, shape, option): printed without a stack trace.</summary>
public class CsrUserException(string message, Exception? inner = null) : Exception(message, inner);
