// TraceProblemKind: what can be wrong with a trace file, so that a reader's caller can tell a
// crash's torn tail (expected) from lines that were lost or corrupt (data missing) and from input
// that is not a trace at all.
namespace MemTrace.Diagnostics;

/// <summary>What a <see cref="TraceProblem"/> reports.</summary>
public enum TraceProblemKind
{
    /// <summary>The file holds no lines at all.</summary>
    EmptyTrace,

    /// <summary>The last line has no newline and is not a complete JSON object: the writer stopped mid-line (killed, disk full). The line is skipped.</summary>
    TornLastLine,

    /// <summary>A line is not valid JSON. The line is skipped.</summary>
    InvalidJson,

    /// <summary>A line is valid JSON but not an object. The line is skipped.</summary>
    NotAnObject,

    /// <summary>An object has no <c>"kind"</c> field. The line is skipped.</summary>
    MissingKind,

    /// <summary>The <c>"kind"</c> is not one this reader knows (a newer writer?). The line is skipped.</summary>
    UnknownKind,

    /// <summary>A field that the kind needs is missing. The line is skipped.</summary>
    MissingField,

    /// <summary>A field has a value of the wrong type or out of range. The line is skipped.</summary>
    InvalidValue,

    /// <summary>A line is longer than <see cref="TraceReaderOptions.MaxLineBytes"/>. The line is skipped.</summary>
    LineTooLong,

    /// <summary>The header names another format or a newer version; lines are read as far as they are understood.</summary>
    UnsupportedFormat,

    /// <summary>The writer could not write some events (its ring was full in drop mode, a write failed, or they came after it was closed): a <c>dropped</c> line.</summary>
    DroppedEvents,

    /// <summary>
    /// Lines follow the <c>end</c> line, which a writer writes last: two traces joined, or a file written again in place.
    /// Reported once, at the first such line; the lines are read as they come.
    /// </summary>
    LinesAfterEnd,
}
