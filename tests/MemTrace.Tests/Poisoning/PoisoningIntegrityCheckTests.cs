// Integrity checks with poisoning: what heap_caps_check_integrity(_addr) finds is reported at once,
// detected by heap_caps_check_integrity (never blamed on the next operation), with what ran the
// check (the periodic check, the tracker's disposal), once per damage.
using System.Runtime.CompilerServices;
using Xunit;

namespace MemTrace.Tests.Poisoning;

public unsafe class PoisoningIntegrityCheckTests
{
    [Theory]
    [InlineData("esp32")]
    [InlineData("host")]
    public void Check_integrity_addr_reports_what_it_found_itself(string layout)
    {
        using var heap = new HeapCaps(HeapLayout.FromName(layout), new HeapCapsOptions { Poisoning = PoisoningLevel.Light, ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        tracker.Malloc(out byte* damaged, 40, MallocCaps.Default); var allocLine = Line();
        damaged[40] = 0;

        Assert.False(heap.CheckIntegrityAddr(damaged, print: false));

        var error = Assert.Single(heap.RecentErrors);
        Assert.Equal(AllocationMethod.CheckIntegrity, error.Operation);
        Assert.Null(error.DetectedAt);
        Assert.Equal(allocLine, error.Block!.Line);

        tracker.Malloc(out byte* unrelated, 16, MallocCaps.Default); // Not blamed for it.
        Assert.Single(heap.RecentErrors);
        tracker.Free(ref unrelated);
    }

    [Theory]
    [InlineData("esp32")]
    [InlineData("host")]
    public void The_periodic_check_reports_poisoning_damage_once_with_the_call_it_ran_in(string layout)
    {
        using var heap = new HeapCaps(HeapLayout.FromName(layout), new HeapCapsOptions { Poisoning = PoisoningLevel.Light, IntegrityCheckInterval = 5, ErrorOutput = null });
        using var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        tracker.Malloc(out byte* damaged, 40, MallocCaps.Default); var allocLine = Line();
        damaged[-8] = 0;

        var checkLine = 0;
        for (var i = 0; i < 10 && heap.RecentErrors.Count == 0; i++)
        {
            checkLine = Line(); tracker.Malloc(out byte* work, 24, MallocCaps.Default);
            tracker.Free(ref work);
        }

        var error = Assert.Single(heap.RecentErrors);
        Assert.Equal(MemoryErrorKind.BufferUnderflow, error.Kind);
        Assert.Equal(AllocationMethod.CheckIntegrity, error.Operation);
        Assert.Equal("at the periodic check (IntegrityCheckInterval)", error.DetectedWhen);
        Assert.Equal(allocLine, error.Block!.Line);
        Assert.Contains("detected by heap_caps_check_integrity at the periodic check (IntegrityCheckInterval), during the call at ", error.ToString(), StringComparison.Ordinal);
        Assert.Equal("work", error.DetectedAt!.Value.VariableName);
        Assert.True(error.DetectedAt.Value.Line == checkLine || error.DetectedAt.Value.Line == checkLine + 1);

        // Later checks find it again but report nothing new, and never call it damage to the allocator's structures.
        for (var i = 0; i < 30; i++)
        {
            tracker.Malloc(out byte* work, 24, MallocCaps.Default);
            tracker.Free(ref work);
        }

        Assert.Single(heap.RecentErrors);
        tracker.Free(ref damaged);
        Assert.Single(heap.RecentErrors);
    }

    [Fact]
    public void The_check_at_a_trackers_disposal_says_so()
    {
        var errors = new StringWriter();
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { Poisoning = PoisoningLevel.Light, ErrorOutput = errors });
        var tracker = new MemoryTracker(heap, new MemoryTrackerOptions { Output = null });
        tracker.Malloc(out byte* damaged, 40, MallocCaps.Default); var allocLine = Line();
        damaged[41] = 0;

        tracker.Dispose();

        var error = Assert.Single(heap.RecentErrors);
        Assert.Equal(MemoryErrorKind.BufferOverflow, error.Kind);
        Assert.Equal(AllocationMethod.CheckIntegrity, error.Operation);
        Assert.Equal("when the tracker was disposed", error.DetectedWhen);
        Assert.Equal(allocLine, error.Block!.Line);
        Assert.Equal((nuint)(damaged + 41), error.DamagedAddress);
        Assert.Contains("detected by heap_caps_check_integrity when the tracker was disposed" + Environment.NewLine, errors.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("unknown", errors.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(MemoryErrorPolicy.Report)]
    [InlineData(MemoryErrorPolicy.Throw)]
    public void Check_integrity_reports_poisoning_damage_under_the_policy(MemoryErrorPolicy policy)
    {
        using var heap = new HeapCaps(HeapLayout.Esp32(), new HeapCapsOptions { Poisoning = PoisoningLevel.Light, ErrorPolicy = policy, ErrorOutput = null });
        var a = (byte*)heap.Malloc(40, MallocCaps.Default);
        var b = (byte*)heap.Malloc(40, MallocCaps.Default);
        a[40] = 0;
        b[-8] = 0;
        var printed = new StringWriter();

        var thrown = Record.Exception(() => Assert.False(heap.CheckIntegrityAll(print: true, printed)));

        // Both are reported before the policy applies; Throw carries the first.
        Assert.Equal(2, heap.RecentErrors.Count);
        Assert.Equal(policy == MemoryErrorPolicy.Throw ? heap.RecentErrors[0] : null, (thrown as MemoryErrorException)?.Error);
        Assert.Equal(
            $"CORRUPT HEAP: Bad tail at 0x{(nuint)(a + 40):x}. Expected 0xbaad5678 got 0xbaad5600{Environment.NewLine}CORRUPT HEAP: Bad head at 0x{(nuint)(b - 8):x}. Expected 0xabba1234 got 0xabba1200{Environment.NewLine}",
            printed.ToString());
        heap.ErrorPolicy = MemoryErrorPolicy.Report;
        Assert.False(heap.CheckIntegrityAll(print: false)); // Still damaged; reported once.
        Assert.Equal(2, heap.RecentErrors.Count);
    }

    private static int Line([CallerLineNumber] int line = 0) => line;
}
