// CallSite: where in the user's source a heap call was made, as captured by the compiler's
// caller-info attributes; the seed's file/line/function/var_name/method quintuple.
using System.Globalization;

namespace MemTrace;

/// <summary>
/// A place in source code that called the heap: the method used, the file, line and member
/// (from <c>[CallerFilePath]</c>, <c>[CallerLineNumber]</c>, <c>[CallerMemberName]</c>) and,
/// where known, the variable that received or held the pointer (<c>[CallerArgumentExpression]</c>).
/// </summary>
/// <remarks>
/// Allocations made directly through <see cref="HeapCaps"/> carry no source location: their
/// call site has only a <see cref="Method"/>, and <see cref="IsKnown"/> is false.
/// </remarks>
/// <param name="Method">The heap function called.</param>
/// <param name="File">The source file path, or null when unknown.</param>
/// <param name="Line">The line number, 0 when unknown.</param>
/// <param name="Function">The calling member, or null when unknown.</param>
/// <param name="VariableName">The pointer variable, or null when the call had none.</param>
public readonly record struct CallSite(AllocationMethod Method, string? File, int Line, string? Function, string? VariableName)
{
    /// <summary>True when the site has a source location.</summary>
    public bool IsKnown => File is not null;

    /// <summary>The file name without its directory, or null.</summary>
    public string? FileName => File is null ? null : Path.GetFileName(File);

    /// <summary>The short form used in listings: <c>file.cs:line</c>, or <c>no call site, heap_caps_realloc</c> for a call made on the heap directly.</summary>
    internal string ShortLocation => IsKnown
        ? string.Create(CultureInfo.InvariantCulture, $"{FileName}:{Line}")
        : "no call site, " + Method.ToCName();

    /// <summary>Formats the site as <c>file:line in function (variable)</c>, or <c>(no call site, heap_caps_malloc)</c>.</summary>
    /// <returns>The formatted site.</returns>
    public override string ToString()
    {
        if (!IsKnown)
        {
            return "(no call site, " + Method.ToCName() + ")";
        }

        var text = string.Create(CultureInfo.InvariantCulture, $"{File}:{Line} in {Function ?? "?"}");
        return VariableName is { Length: > 0 } ? text + " (" + VariableName + ")" : text;
    }
}
