using MemTrace.Tracking;
using Xunit;

namespace MemTrace.Tests.Tracking;

public class CallSiteRegistryTests
{
    [Theory]
    [InlineData("buffer", "buffer")]
    [InlineData("byte* buffer", "buffer")]
    [InlineData("var buffer", "buffer")]
    [InlineData("out buffer", "buffer")]
    [InlineData("ref  buffer", "buffer")]
    [InlineData("s.Field", "s.Field")]
    [InlineData("arr[i * 2]", "arr[i * 2]")]
    [InlineData("this.data", "this.data")]
    [InlineData("&local", "local")]
    [InlineData("  spaced  ", "spaced")]
    [InlineData("Get(x, y)", "Get(x, y)")]
    [InlineData("out\np", "p")]
    [InlineData("out\n            p", "p")]
    [InlineData("out\r\n\tbyte* p", "p")]
    [InlineData("ref\tbuffer", "buffer")]
    [InlineData("Get(x,\n    y)", "Get(x, y)")]
    [InlineData("arr[i  *  2]", "arr[i * 2]")]
    public void Variable_names_are_normalised_once_per_site(string expression, string expected) =>
        Assert.Equal(expected, CallSiteRegistry.NormaliseVariable(expression));

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData(null)]
    public void No_expression_is_no_variable(string? expression) => Assert.Null(CallSiteRegistry.NormaliseVariable(expression));

    [Fact]
    public void The_same_site_gets_the_same_id_and_strings_built_at_run_time_match_literals()
    {
        var literal = CallSiteRegistry.GetId(AllocationMethod.Malloc, "/src/a.cs", 10, "Main", "p");
        var again = CallSiteRegistry.GetId(AllocationMethod.Malloc, "/src/a.cs", 10, "Main", "p");
        var built = CallSiteRegistry.GetId(AllocationMethod.Malloc, string.Concat("/src/", "a.cs"), 10, string.Concat("Ma", "in"), string.Concat("p", ""));

        Assert.Equal(literal, again);
        Assert.Equal(literal, built);
        Assert.Equal(new CallSite(AllocationMethod.Malloc, "/src/a.cs", 10, "Main", "p"), CallSiteRegistry.Get(literal));
    }

    [Fact]
    public void Sites_differing_in_any_part_get_different_ids()
    {
        var ids = new[]
        {
            CallSiteRegistry.GetId(AllocationMethod.Malloc, "/src/b.cs", 10, "Main", "p"),
            CallSiteRegistry.GetId(AllocationMethod.Calloc, "/src/b.cs", 10, "Main", "p"),
            CallSiteRegistry.GetId(AllocationMethod.Malloc, "/src/c.cs", 10, "Main", "p"),
            CallSiteRegistry.GetId(AllocationMethod.Malloc, "/src/b.cs", 11, "Main", "p"),
            CallSiteRegistry.GetId(AllocationMethod.Malloc, "/src/b.cs", 10, "Other", "p"),
            CallSiteRegistry.GetId(AllocationMethod.Malloc, "/src/b.cs", 10, "Main", "q"),
            CallSiteRegistry.GetId(AllocationMethod.Malloc, "/src/b.cs", 10, "Main", null),
        };

        Assert.Equal(ids.Length, ids.Distinct().Count());
    }

    [Fact]
    public void Unlocated_sites_carry_only_their_method()
    {
        var site = CallSiteRegistry.Get(CallSiteRegistry.Unlocated(AllocationMethod.Calloc));

        Assert.Equal(AllocationMethod.Calloc, site.Method);
        Assert.False(site.IsKnown);
        Assert.Equal("(no call site, heap_caps_calloc)", site.ToString());
    }
}
