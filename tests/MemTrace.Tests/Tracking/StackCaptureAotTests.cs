// Stacks kept per allocation (MemoryTrackerOptions.StackTraceDepth) under NativeAOT: MemTrace's own frames
// are dropped from the top by DiagnosticMethodInfo, which reads the stack trace metadata NativeAOT keeps.
// StackFrame.GetMethod, used before, returns null there for almost every method, so a published app's
// stacks began with MemoryTracker.CommitWithAids, or CaptureFailureStack, LogFailure and Failed for a
// failed request, and a small depth kept nothing of the caller's. The test host runs on CoreCLR, where
// both APIs answer, so these tests check what can be checked in-process: no trim warning is suppressed
// (the suppression is what hid the bug from `dotnet publish -p:PublishAot=true`) but the one reviewed below,
// and NativeAOT's shorter assembly names (no culture, no key token) are recognised.
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using MemTrace.Tracking;
using Xunit;

namespace MemTrace.Tests.Tracking;

public class StackCaptureAotTests
{
    [Fact]
    public void The_library_suppresses_no_trimming_or_AOT_warning_but_the_reviewed_one()
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        var assembly = typeof(HeapCaps).Assembly;
        var members = assembly.GetTypes().SelectMany(t => t.GetMembers(all).Append(t));

        var suppressed = members
            .SelectMany(m => m.GetCustomAttributes<UnconditionalSuppressMessageAttribute>().Select(a => $"{m.DeclaringType?.Name}.{m.Name}: {a.CheckId}"))
            .Concat(assembly.GetCustomAttributes<UnconditionalSuppressMessageAttribute>().Select(a => $"assembly: {a.CheckId}"))
            .ToList();

        // Reviewed: StackCapture.IsHidden reads a frame's method only for its [StackTraceHidden] and AggressiveInlining
        // marks. Where GetMethod returns null (NativeAOT) the frame is kept and counts towards the depth (printing still hides it),
        // and nothing else depends on it (MemTrace's own frames are found by DiagnosticMethodInfo).
        Assert.Equal(["StackCapture.IsHidden: IL2026"], suppressed);
    }

    [Theory]
    [InlineData("MemTrace", true)]
    [InlineData("MemTrace, Version=1.0.0.0", true)]                                      // NativeAOT's DeclaringAssemblyName
    [InlineData("MemTrace, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null", true)] // CoreCLR's
    [InlineData("MemTrace.Cli, Version=1.0.0.0", false)]
    [InlineData("MemTrace.Tests, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null", false)]
    [InlineData("MemTraceExtras", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    public void MemTraces_own_assembly_is_recognised_by_its_CoreCLR_and_NativeAOT_names(string? name, bool own) =>
        Assert.Equal(own, StackCapture.IsOwnAssembly(name));

    [Fact]
    public void A_frame_of_the_caller_is_not_MemTraces_and_one_of_the_tracker_is()
    {
        Assert.False(StackCapture.IsOwnFrame(new StackFrame(0, needFileInfo: false)));

        var frames = StackCapture.Capture(StackCapture.MaxDepth)!;
        Assert.Equal(nameof(A_frame_of_the_caller_is_not_MemTraces_and_one_of_the_tracker_is), DiagnosticMethodInfo.Create(frames[0])!.Name);
        Assert.All(frames, f => Assert.False(StackCapture.IsOwnFrame(f)));
    }
}
