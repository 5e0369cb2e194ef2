// Keeps the C# blocks of README.md and docs/*.md honest: each ```csharp block is compiled with
// Roslyn against the MemTrace assemblies this test loads, and the README's quick start is run.
//
// The convention, for doc writers. An HTML comment on the last non-blank line before a block
// (invisible on GitHub) says how the block is compiled:
//
//   <!-- snippet: program -->      a whole program: top-level statements and its own using
//                                  directives (only the SDK's implicit usings are given).
//   <!-- snippet: statements -->   statements: the body of a void method of an unsafe class
//                                  (async Task if the block awaits).
//   <!-- snippet: members -->      members (methods, fields, properties) of an unsafe class.
//   <!-- snippet: file -->         a whole file of type declarations.
//   <!-- snippet: skip (reason) --> not compiled; the reason is required.
//
// With no comment, a block that opens with a using directive is a program and any other block is
// statements. Statements and members see the SDK's implicit usings, `using MemTrace;`,
// `using MemTrace.Diagnostics;` and `using Xunit;`, and two fields of their class: `heap` (a
// HeapCaps) and `tracker` (a MemoryTracker); a block that declares its own `heap` or `tracker`
// hides them. Anything else the block takes for granted is declared after `given:`, as C# members
// of the block's class, on the comment's line:
//
//   <!-- snippet: statements; given: MemoryCheckpoint cp = null!; void HandleRequest() { } -->
//
// Every block is compiled with unsafe code allowed, nullable reference types enabled, C# 14 and
// warning level 9999 (all warning waves). A block passes with no error and no warning: the
// compiler's warnings point at doc code a reader would copy with the same warning (CS8600-series
// nullable warnings included), so none is allowed. Hidden and info diagnostics are ignored.
// A failure names the block (file and line of its fence) and lists the compiler's diagnostics at
// the markdown's own lines.
using System.Reflection;
using System.Text;
using Xunit;

namespace MemTrace.Tests;

[Collection(ConsoleCollection.Name)]
public class DocsSnippetTests
{
    [Fact]
    public void Every_csharp_block_of_the_readme_and_the_docs_is_found()
    {
        var blocks = DocSnippets.All;

        Assert.Contains(blocks, b => b.File == "README.md");
        Assert.Contains(blocks, b => b.File.StartsWith("docs/", StringComparison.Ordinal));
        // Every fence counted by hand must be a block found: no fence form is missed.
        foreach (var file in DocSnippets.MarkdownFiles(DocSnippets.RepositoryRoot))
        {
            var relative = Path.GetRelativePath(DocSnippets.RepositoryRoot, file).Replace('\\', '/');
            var fences = File.ReadLines(file).Count(l => l.Trim() is "```csharp" or "```cs" or "```c#");
            Assert.Equal(fences, blocks.Count(b => b.File == relative));
        }
    }

    [Fact]
    public void Every_csharp_block_of_the_readme_and_the_docs_compiles()
    {
        var report = new StringBuilder();
        var failed = 0;
        foreach (var result in DocSnippets.Results)
        {
            if (result.Diagnostics.Length == 0)
            {
                continue;
            }

            failed++;
            report.Append("```csharp block at ").Append(result.Snippet).AppendLine(" does not compile:");
            foreach (var d in result.Diagnostics)
            {
                report.Append("  ").AppendLine(DocSnippets.Format(d));
            }
        }

        Assert.True(failed == 0, $"{failed} of {DocSnippets.Results.Count} doc blocks fail (see DocsSnippetTests' comment for the snippet markers):\n{report}");
        Assert.NotEmpty(DocSnippets.Results);
    }

    [Fact]
    public void The_readme_quick_start_runs_and_lists_its_buffer()
    {
        var quickStart = DocSnippets.Results.First(r => r.Snippet.File == "README.md");
        Assert.Equal(DocSnippetKind.Program, quickStart.Snippet.Kind);
        Assert.Empty(quickStart.Diagnostics);
        using var image = new MemoryStream();
        var emit = quickStart.Compilation!.Emit(image, cancellationToken: TestContext.Current.CancellationToken);
        Assert.True(emit.Success, string.Join('\n', emit.Diagnostics.Select(DocSnippets.Format)));
        var entry = Assembly.Load(image.ToArray()).EntryPoint!;

        // The tracker's Output defaults to Console.Out when it is made, inside the program.
        var output = ConsoleCollection.Capture(() => entry.Invoke(null, entry.GetParameters().Length == 0 ? null : [Array.Empty<string>()]));

        // list_allocations(): the 256-byte 8BIT calloc, at its line of the README (the #line
        // mapping makes the README the call site), with its variable name, `buffer`.
        var callocLine = quickStart.Snippet.CodeLine
            + Array.FindIndex(quickStart.Snippet.Code.Split('\n'), l => l.Contains("tracker.Calloc(out byte* buffer", StringComparison.Ordinal));
        var listing = output.Split('\n').SingleOrDefault(l => l.Contains("heap_caps_calloc", StringComparison.Ordinal));
        Assert.True(listing is not null, "no listing line of the calloc in:\n" + output);
        Assert.Contains(" 256 ", listing, StringComparison.Ordinal);
        Assert.Contains("MALLOC_CAP_8BIT", listing, StringComparison.Ordinal);
        Assert.Contains($"README.md:{callocLine} ", listing, StringComparison.Ordinal);
        Assert.EndsWith(" buffer", listing.TrimEnd(), StringComparison.Ordinal);
        Assert.Contains("Total: 1 live block, 256 bytes", output, StringComparison.Ordinal);
        // print_memory_info("app"), after the free, on the README's ESP32 with 4 MiB of PSRAM.
        Assert.Contains("[app] Memory info (esp32-psram4m):", output, StringComparison.Ordinal);
    }
}
