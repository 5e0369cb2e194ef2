// HeapEventFilter: a predicate over an event passed by reference (Func<T, bool> cannot take an
// `in` parameter, and copying the event to call a filter would cost a copy per event).
namespace MemTrace.Diagnostics;

/// <summary>Decides whether an event goes on to the sinks.</summary>
/// <param name="heapEvent">The event.</param>
/// <returns>True to keep the event.</returns>
public delegate bool HeapEventFilter(in HeapEvent heapEvent);
