// The ```csharp blocks of README.md and docs/*.md, found and compiled with Roslyn against the
// loaded MemTrace assemblies (see DocsSnippetTests for the convention that says how each block
// is wrapped). Everything is parsed and compiled once per test run, then shared.
using System.Collections.Immutable;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;

namespace MemTrace.Tests;

internal enum DocSnippetKind
{
    /// <summary>A whole program: top-level statements, its own using directives.</summary>
    Program,

    /// <summary>Statements: the body of a method of an unsafe class.</summary>
    Statements,

    /// <summary>Members (methods, fields, properties): the body of an unsafe class.</summary>
    Members,

    /// <summary>A whole file of type declarations, no top-level statements.</summary>
    File,

    /// <summary>Not compiled (the marker gives the reason).</summary>
    Skip,
}

/// <summary>One ```csharp block: where it is, how it is wrapped, and its code.</summary>
/// <param name="File">The markdown file, relative to the repository root, with '/' separators.</param>
/// <param name="FenceLine">The 1-based line of the opening ```csharp fence.</param>
/// <param name="MarkerLine">The 1-based line of its snippet marker, 0 without one.</param>
internal sealed record DocSnippet(
    string File, int FenceLine, DocSnippetKind Kind, string? Given, string? Reason, int MarkerLine, string Code)
{
    /// <summary>The 1-based line of the block's first line of code.</summary>
    public int CodeLine => FenceLine + 1;

    public override string ToString() => $"{File}:{FenceLine} ({Kind.ToString().ToLowerInvariant()})";
}

/// <summary>The result of compiling one block: the compiler's errors and warnings, mapped to the markdown.</summary>
internal sealed record DocSnippetResult(DocSnippet Snippet, CSharpCompilation? Compilation, ImmutableArray<Diagnostic> Diagnostics);

internal static partial class DocSnippets
{
    // The SDK's implicit usings for Microsoft.NET.Sdk (ImplicitUsings=enable), given to every block.
    private const string ImplicitUsings = """
        global using global::System;
        global using global::System.Collections.Generic;
        global using global::System.IO;
        global using global::System.Linq;
        global using global::System.Net.Http;
        global using global::System.Threading;
        global using global::System.Threading.Tasks;
        """;

    // What a fragment (statements, members) sees besides the implicit usings: the library's
    // namespaces, Xunit (as in an xunit.v3 test project), and a heap and a tracker.
    private const string FragmentUsings = "using MemTrace;\nusing MemTrace.Diagnostics;\nusing Xunit;\n";

    private static readonly Lazy<string> s_root = new(FindRepositoryRoot);
    private static readonly Lazy<IReadOnlyList<DocSnippet>> s_all = new(() => Find(s_root.Value));
    private static readonly Lazy<IReadOnlyList<DocSnippetResult>> s_results = new(() => Compile(s_all.Value));
    private static readonly Lazy<ImmutableArray<MetadataReference>> s_references = new(LoadReferences);

    private static readonly CSharpParseOptions s_parseOptions = new(LanguageVersion.CSharp14);

    public static string RepositoryRoot => s_root.Value;

    /// <summary>Every ```csharp block of README.md and docs/*.md, in file and line order.</summary>
    public static IReadOnlyList<DocSnippet> All => s_all.Value;

    /// <summary>Every block but the skipped ones, compiled (once).</summary>
    public static IReadOnlyList<DocSnippetResult> Results => s_results.Value;

    public static IEnumerable<string> MarkdownFiles(string root)
    {
        yield return Path.Combine(root, "README.md");
        foreach (var file in Directory.GetFiles(Path.Combine(root, "docs"), "*.md").Order(StringComparer.Ordinal))
        {
            yield return file;
        }
    }

    /// <summary>The blocks of one markdown text.</summary>
    public static List<DocSnippet> Parse(string relativePath, string markdown)
    {
        var lines = markdown.ReplaceLineEndings("\n").Split('\n');
        var snippets = new List<DocSnippet>();
        for (var i = 0; i < lines.Length; i++)
        {
            var fence = lines[i].Trim();
            var marker = MarkerPattern().Match(fence);
            if (fence.StartsWith("<!-- snippet", StringComparison.Ordinal) && !marker.Success)
            {
                throw new FormatException($"{relativePath}:{i + 1}: unreadable snippet marker \"{fence}\"; "
                    + "expected <!-- snippet: program|statements|members|file|skip (reason); given: C# members -->");
            }

            if (marker.Success && !NextNonBlankIsCSharpFence(lines, i + 1))
            {
                throw new FormatException($"{relativePath}:{i + 1}: snippet marker not followed by a ```csharp block");
            }

            if (fence is not ("```csharp" or "```cs" or "```c#"))
            {
                continue;
            }

            var end = i + 1;
            while (end < lines.Length && !lines[end].TrimStart().StartsWith("```", StringComparison.Ordinal))
            {
                end++;
            }

            if (end == lines.Length)
            {
                throw new FormatException($"{relativePath}:{i + 1}: ```csharp block never closed");
            }

            var code = string.Join('\n', lines[(i + 1)..end]);
            var markerIndex = i - 1;
            while (markerIndex >= 0 && lines[markerIndex].Trim().Length == 0)
            {
                markerIndex--;
            }

            var m = markerIndex >= 0 ? MarkerPattern().Match(lines[markerIndex].Trim()) : Match.Empty;
            DocSnippetKind kind;
            string? given = null, reason = null;
            if (m.Success)
            {
                kind = Enum.Parse<DocSnippetKind>(m.Groups["kind"].Value, ignoreCase: true);
                reason = m.Groups["reason"].Success ? m.Groups["reason"].Value.Trim() : null;
                given = m.Groups["given"].Success ? m.Groups["given"].Value.Trim() : null;
                if (kind == DocSnippetKind.Skip && string.IsNullOrEmpty(reason))
                {
                    throw new FormatException($"{relativePath}:{markerIndex + 1}: a skipped block needs its reason: <!-- snippet: skip (why) -->");
                }
            }
            else
            {
                kind = StartsWithUsingDirective(code) ? DocSnippetKind.Program : DocSnippetKind.Statements;
            }

            snippets.Add(new DocSnippet(relativePath, i + 1, kind, given, reason, m.Success ? markerIndex + 1 : 0, code));
            i = end;
        }

        return snippets;
    }

    private static bool NextNonBlankIsCSharpFence(string[] lines, int from)
    {
        for (var i = from; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length > 0)
            {
                return line is "```csharp" or "```cs" or "```c#";
            }
        }

        return false;
    }

    /// <summary>The default kind: a block that opens with a using directive is a whole program.</summary>
    private static bool StartsWithUsingDirective(string code)
    {
        foreach (var raw in code.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith("//", StringComparison.Ordinal))
            {
                continue;
            }

            return UsingDirectivePattern().IsMatch(line);
        }

        return false;
    }

    private static List<DocSnippet> Find(string root)
    {
        var snippets = new List<DocSnippet>();
        foreach (var file in MarkdownFiles(root))
        {
            var relative = Path.GetRelativePath(root, file).Replace('\\', '/');
            snippets.AddRange(Parse(relative, System.IO.File.ReadAllText(file)));
        }

        return snippets;
    }

    /// <summary>The folder holding README.md, walking up from the test's base directory.</summary>
    private static string FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (System.IO.File.Exists(Path.Combine(directory.FullName, "README.md")) && Directory.Exists(Path.Combine(directory.FullName, "docs")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("No README.md (with docs/ beside it) above " + AppContext.BaseDirectory);
    }

    /// <summary>
    /// The framework (the trusted platform assemblies: the runtime's and this test's dependencies,
    /// MemTrace's among them) and MemTrace's assemblies, read once.
    /// </summary>
    private static ImmutableArray<MetadataReference> LoadReferences()
    {
        var paths = ((string?)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Concat(
            [
                typeof(HeapCaps).Assembly.Location,
                typeof(MemTrace.Extensions.Logging.LoggerSink).Assembly.Location,
                typeof(Microsoft.Extensions.Logging.ConsoleLoggerExtensions).Assembly.Location,
                typeof(FactAttribute).Assembly.Location,
            ])
            .Where(p => p.Length > 0 && p.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
            .DistinctBy(Path.GetFileName, StringComparer.OrdinalIgnoreCase);
        return [.. paths.Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))];
    }

    private static CSharpCompilationOptions Options(OutputKind kind) => new(
        kind,
        allowUnsafe: true,
        nullableContextOptions: NullableContextOptions.Enable,
        warningLevel: 9999,
        concurrentBuild: true);

    /// <summary>
    /// Compiles the blocks: the fragments together in one library (each in a class of its own),
    /// each program alone (a compilation has one set of top-level statements).
    /// </summary>
    private static List<DocSnippetResult> Compile(IReadOnlyList<DocSnippet> snippets)
    {
        var references = s_references.Value;
        var implicitUsings = CSharpSyntaxTree.ParseText(ImplicitUsings, s_parseOptions, path: "ImplicitUsings.g.cs", encoding: Encoding.UTF8);
        var results = new List<DocSnippetResult>();
        var fragments = snippets.Where(s => s.Kind is not (DocSnippetKind.Program or DocSnippetKind.Skip)).ToList();
        if (fragments.Count > 0)
        {
            var trees = fragments.Select((s, i) => CSharpSyntaxTree.ParseText(Wrap(s, i), s_parseOptions, path: TreePath(s), encoding: Encoding.UTF8)).ToList();
            var compilation = CSharpCompilation.Create(
                "DocSnippets", [implicitUsings, .. trees], references, Options(OutputKind.DynamicallyLinkedLibrary));
            var diagnostics = compilation.GetDiagnostics();
            for (var i = 0; i < fragments.Count; i++)
            {
                var tree = trees[i];
                results.Add(new DocSnippetResult(fragments[i], compilation, [.. diagnostics.Where(d => Relevant(d) && (d.Location.SourceTree == tree || d.Location == Location.None))]));
            }
        }

        foreach (var program in snippets.Where(s => s.Kind == DocSnippetKind.Program))
        {
            var tree = CSharpSyntaxTree.ParseText(Wrap(program, 0), s_parseOptions, path: TreePath(program), encoding: Encoding.UTF8);
            var compilation = CSharpCompilation.Create(
                "DocSnippet_" + Path.GetFileNameWithoutExtension(program.File) + "_" + program.FenceLine,
                [implicitUsings, tree],
                references,
                Options(OutputKind.ConsoleApplication));
            results.Add(new DocSnippetResult(program, compilation, [.. compilation.GetDiagnostics().Where(Relevant)]));
        }

        return [.. results.OrderBy(r => r.Snippet.File, StringComparer.Ordinal).ThenBy(r => r.Snippet.FenceLine)];
    }

    // Hidden and info diagnostics (unnecessary usings and the like) are not the reader's business.
    private static bool Relevant(Diagnostic d) => d.Severity >= DiagnosticSeverity.Warning;

    private static string TreePath(DocSnippet s) => $"{s.File}@{s.FenceLine}.g.cs";

    /// <summary>
    /// The block in its wrapper. #line directives map every line of the block (and of its
    /// <c>given:</c> members) to the markdown file, so that diagnostics name the doc's own lines.
    /// </summary>
    private static string Wrap(DocSnippet s, int index)
    {
        var code = new StringBuilder();
        var file = s.File.Replace("\"", "", StringComparison.Ordinal);
        if (s.Kind is DocSnippetKind.Program or DocSnippetKind.File)
        {
            code.Append(FragmentUsingsIfFile(s));
            code.Append($"#line {s.CodeLine} \"{file}\"\n").Append(s.Code).Append('\n');
            return code.ToString();
        }

        var isAsync = s.Kind == DocSnippetKind.Statements && AwaitPattern().IsMatch(s.Code);
        code.Append(FragmentUsings)
            .Append("namespace DocSnippets;\n")
            .Append($"internal unsafe partial class Snippet{index}_{Path.GetFileNameWithoutExtension(s.File).Replace('-', '_')}_{s.FenceLine}\n{{\n")
            .Append("    public HeapCaps heap = null!;\n")
            .Append("    public MemoryTracker tracker = null!;\n");
        if (!string.IsNullOrEmpty(s.Given))
        {
            code.Append($"#line {s.MarkerLine} \"{file}\"\n").Append(s.Given).Append("\n#line default\n");
        }

        if (s.Kind == DocSnippetKind.Statements)
        {
            code.Append(isAsync ? "    public async Task Run()\n    {\n" : "    public void Run()\n    {\n");
            code.Append($"#line {s.CodeLine} \"{file}\"\n").Append(s.Code).Append("\n#line default\n    }\n");
        }
        else
        {
            code.Append($"#line {s.CodeLine} \"{file}\"\n").Append(s.Code).Append("\n#line default\n");
        }

        code.Append("}\n");
        return code.ToString();
    }

    private static string FragmentUsingsIfFile(DocSnippet s) => s.Kind == DocSnippetKind.File ? FragmentUsings : "";

    /// <summary>A diagnostic as the compiler prints it, at the markdown's line.</summary>
    public static string Format(Diagnostic d)
    {
        var span = d.Location.GetMappedLineSpan();
        var where = span.IsValid ? $"{span.Path}:{span.StartLinePosition.Line + 1}:{span.StartLinePosition.Character + 1}" : "(no location)";
        return $"{where}: {d.Severity.ToString().ToLowerInvariant()} {d.Id}: {d.GetMessage(System.Globalization.CultureInfo.InvariantCulture)}";
    }

    [GeneratedRegex(@"^<!--\s*snippet:\s*(?<kind>program|statements|members|file|skip)\s*(\((?<reason>[^)]*)\))?\s*(;\s*given:(?<given>.*?))?\s*-->$", RegexOptions.IgnoreCase)]
    private static partial Regex MarkerPattern();

    [GeneratedRegex(@"^(global\s+)?using\s+(static\s+)?[A-Za-z_][\w.]*(\s*=\s*[\w.<>, ]+)?\s*;")]
    private static partial Regex UsingDirectivePattern();

    [GeneratedRegex(@"\bawait\b")]
    private static partial Regex AwaitPattern();
}
