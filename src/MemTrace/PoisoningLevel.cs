// PoisoningLevel: ESP-IDF's CONFIG_HEAP_CORRUPTION_DETECTION choice.
namespace MemTrace;

/// <summary>How much every block is instrumented to catch memory errors (ESP-IDF's <c>CONFIG_HEAP_CORRUPTION_DETECTION</c>).</summary>
/// <remarks>
/// Costs, measured in docs/benchmarks.md: Light adds 12 bytes per block on chip layouts (20 on
/// 16-byte-aligned layouts) and a canary check on every free; Comprehensive also writes every
/// allocated and freed byte and verifies free memory when it is reused, which costs time in
/// proportion to block sizes (ESP-IDF: "substantial"; not for production).
/// </remarks>
public enum PoisoningLevel
{
    /// <summary>No canaries, no fill ("Basic"): bad pointers are still refused, block overruns are not seen.</summary>
    None,

    /// <summary>
    /// A head canary (<c>0xABBA1234</c>, followed by the block's size) before every block and a tail
    /// canary (<c>0xBAAD5678</c>) right after its requested bytes, so a one-byte overrun or underrun
    /// is caught; checked on free and realloc and by integrity checks.
    /// </summary>
    Light,

    /// <summary>
    /// Light, plus new blocks filled with <c>0xCE</c> and freed blocks with <c>0xFE</c>; free memory is
    /// verified when it is handed out again and by integrity checks, which catches writes after free
    /// (in emulated chip RAM; on the process heap only the quarantine can).
    /// </summary>
    Comprehensive,
}
