// The native library as C programs use it: src/MemTrace.Native published with NativeAOT (once for the class,
// into a temporary folder), then C programs compiled against its headers and run: the seed's example
// (samples/SeedExample) and native_checks.c (ESP-IDF's edge cases, the variadic wrappers, the walker's structs,
// threads, configure/shutdown, output order). Skipped where no C compiler is installed.
using System.Diagnostics;
using System.Text.RegularExpressions;
using Xunit;

namespace MemTrace.Tests.Native;

public sealed partial class NativeLibraryTests(NativeLibraryTests.Build build) : IClassFixture<NativeLibraryTests.Build>
{
    [Fact]
    public void The_seeds_example_in_C_lists_its_block_and_reports_the_leak_and_the_double_free()
    {
        var program = build.Compile(Path.Combine(build.RepositoryRoot, "samples", "SeedExample", "seed_example.c"));

        var run = Build.Run(program, []);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("seed_example.c:20 (app_main)", run.Output, StringComparison.Ordinal);
        Assert.Contains("Total: 0 live blocks, 0 bytes", run.Output, StringComparison.Ordinal);
        Assert.Contains("[seed_example] Memory info (esp32-psram4m):", run.Output, StringComparison.Ordinal);
        Assert.Contains("Leak of 100 bytes in 1 block allocated at", run.Output, StringComparison.Ordinal);
        Assert.Contains("variables: forgotten", run.Output, StringComparison.Ordinal);
        Assert.Contains("leaks: 1, memory errors: 1, heap intact: yes", run.Output, StringComparison.Ordinal);
        Assert.Matches(@"MEMTRACE ERROR: double free of 0x[0-9a-f]+ \(512-byte block\)", run.Error);
        Assert.Contains("seed_example.c:54 in main (alias)", run.Error, StringComparison.Ordinal);
        Assert.Contains("first freed at ", run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void The_C_checks_pass_and_the_librarys_output_keeps_its_place_among_printfs()
    {
        var program = build.Compile(Path.Combine(build.RepositoryRoot, "tests", "MemTrace.Tests", "Native", "native_checks.c"));

        var run = Build.Run(program, []);

        Assert.True(run.ExitCode == 0, run.ToString());
        var passed = PassedLine().Match(run.Output);
        Assert.True(passed.Success && int.Parse(passed.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) >= 50, run.Output);
        var first = run.Output.IndexOf("ORDER 1", StringComparison.Ordinal);
        var listing = run.Output.IndexOf("MemTrace allocations:", first, StringComparison.Ordinal);
        var last = run.Output.IndexOf("ORDER 3", StringComparison.Ordinal);
        Assert.True(first >= 0 && first < listing && listing < last, run.Output);
        Assert.Contains("native_checks.c", run.Output[listing..last], StringComparison.Ordinal);
    }

    [Fact]
    public void MEMTRACE_LAYOUT_chooses_the_map_and_a_bad_one_fails_every_call_with_the_reason_not_a_crash()
    {
        var program = build.Compile(Path.Combine(build.RepositoryRoot, "samples", "SeedExample", "seed_example.c"));

        var esp32 = Build.Run(program, [("MEMTRACE_LAYOUT", "esp32")]);
        var bad = Build.Run(program, [("MEMTRACE_LAYOUT", "esp33"), ("MEMTRACE_POISONING", "light")]);

        Assert.Contains("[seed_example] Memory info (esp32):", esp32.Output, StringComparison.Ordinal);
        Assert.Contains("allocation failed: heap_caps_calloc of 512 bytes, caps MALLOC_CAP_SPIRAM", esp32.Output, StringComparison.Ordinal);
        Assert.Equal(1, esp32.ExitCode); // No PSRAM: no block to double-free, so the example's own check fails.
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("Failed to allocate buffer!", bad.Output, StringComparison.Ordinal);
        Assert.Contains("memtrace: MEMTRACE_LAYOUT: 'esp33' is neither a built-in layout", bad.Error, StringComparison.Ordinal);
        Assert.Contains("memtrace: traceable_heap_caps_malloc: no heap: the layout 'esp33' cannot be used", bad.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void The_headers_compile_as_strict_C99_and_as_CPlusPlus()
    {
        var source = Path.Combine(build.OutputDirectory, "headers.c");
        File.WriteAllText(source, """
            #include "memmap.h"
            int main(void)
            {
                char *p = (char *)TRACE_MALLOC(4, MALLOC_CAP_8BIT);
                void *q = heap_caps_malloc_prefer(8, 2, MALLOC_CAP_SPIRAM, MALLOC_CAP_DEFAULT);
                TRACE_FREE(p);
                heap_caps_free(q);
                return memtrace_leaks_since(0, false) != 0;
            }
            """);

        build.Compile(source, "-std=c99", "-pedantic", "-Werror");
        if (Build.FindTool("CXX", "c++", "g++", "clang++") is { } cxx)
        {
            build.CompileWith(cxx, source, "-x", "c++", "-std=c++17", "-Werror");
        }
    }

    [GeneratedRegex(@"native checks: (\d+) passed")]
    private static partial Regex PassedLine();

    /// <summary>The library, published once for the class; skips every test when no C compiler is found.</summary>
    public sealed class Build : IDisposable
    {
        private readonly string? _compiler = FindTool("CC", "cc", "gcc", "clang", "clang-14");
        private readonly Lazy<string> _library;

        public Build()
        {
            RepositoryRoot = FindRepositoryRoot();
            OutputDirectory = Path.Combine(Path.GetTempPath(), "memtrace-native-tests-" + Guid.NewGuid().ToString("N"));
            _library = new Lazy<string>(Publish);
        }

        public string RepositoryRoot { get; }

        public string OutputDirectory { get; }

        /// <summary>Compiles and links one C file against the library; returns the program's path.</summary>
        public string Compile(string source, params string[] flags) => CompileWith(_compiler, source, flags);

        /// <summary>Compiles and links one C file with <paramref name="compiler"/>; returns the program's path.</summary>
        public string CompileWith(string? compiler, string source, params string[] flags)
        {
            if (compiler is null)
            {
                Assert.Skip("no C compiler (cc, gcc, clang) on this machine; set CC to use another.");
            }

            var library = _library.Value;
            var program = Path.Combine(OutputDirectory, Path.GetFileNameWithoutExtension(source) + "-" + Guid.NewGuid().ToString("N")[..8]);
            var include = Path.Combine(library, "include");
            var run = Run(compiler, [.. flags, "-Wall", "-Wextra", "-pthread", "-I" + include, source, "-L" + library, "-lmemtrace", "-Wl,-rpath," + library, "-o", program], [], TimeSpan.FromMinutes(2));
            Assert.True(run.ExitCode == 0, $"{compiler} failed:\n{run}");
            return program;
        }

        /// <summary>Runs a program with no MEMTRACE_* variables but those given.</summary>
        public static Result Run(string program, (string Name, string Value)[] environment) =>
            Run(program, [], environment, TimeSpan.FromMinutes(2));

        public static string? FindTool(string variable, params string[] names)
        {
            if (Environment.GetEnvironmentVariable(variable) is { Length: > 0 } chosen)
            {
                return chosen;
            }

            var path = Environment.GetEnvironmentVariable("PATH") ?? "";
            return names.FirstOrDefault(name => path.Split(Path.PathSeparator).Any(dir => dir.Length > 0 && File.Exists(Path.Combine(dir, name))));
        }

        public void Dispose()
        {
            try
            {
                Directory.Delete(OutputDirectory, recursive: true);
            }
            catch (DirectoryNotFoundException)
            {
            }
        }

        private string Publish()
        {
            // Its own artifacts folder: the publish neither reads nor rewrites the repository's bin and obj.
            var library = Path.Combine(OutputDirectory, "lib");
            var project = Path.Combine(RepositoryRoot, "src", "MemTrace.Native");
            var run = Run(
                Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet",
                ["publish", project, "-c", "Release", "--use-current-runtime", "--artifacts-path", Path.Combine(OutputDirectory, "artifacts"), "-o", library, "--nologo"],
                [],
                TimeSpan.FromMinutes(10));
            Assert.True(run.ExitCode == 0, "dotnet publish of src/MemTrace.Native failed:\n" + run);
            return library;
        }

        private static Result Run(string fileName, string[] arguments, (string Name, string Value)[] environment, TimeSpan timeout)
        {
            var start = new ProcessStartInfo(fileName)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var argument in arguments)
            {
                start.ArgumentList.Add(argument);
            }

            foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("MEMTRACE_", StringComparison.Ordinal)).ToArray())
            {
                start.Environment.Remove(name);
            }

            foreach (var (name, value) in environment)
            {
                start.Environment[name] = value;
            }

            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(timeout))
            {
                process.Kill(entireProcessTree: true);
                Assert.Fail($"{fileName} did not finish within {timeout}.");
            }

            process.WaitForExit();
            return new Result(process.ExitCode, output.Result, error.Result);
        }

        private static string FindRepositoryRoot()
        {
            for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
            {
                if (File.Exists(Path.Combine(directory.FullName, "MemTrace.slnx")))
                {
                    return directory.FullName;
                }
            }

            throw new InvalidOperationException("MemTrace.slnx not found above " + AppContext.BaseDirectory);
        }
    }

    /// <summary>What a program did: its exit code and both outputs.</summary>
    public sealed record Result(int ExitCode, string Output, string Error)
    {
        public override string ToString() => $"exit code {ExitCode}\n--- stdout\n{Output}\n--- stderr\n{Error}";
    }
}
