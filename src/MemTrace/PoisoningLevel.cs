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
    /// ESP-IDF's head before every block (the canary <c>0xABBA1234</c>, then the block's size) and a tail canary
    /// (<c>0xBAAD5678</c>) right after its requested bytes; checked on free and realloc and by integrity checks. A
    /// one-byte overrun is caught. The 4 bytes right before a block are its size, as on the chip: an underrun of 1 to 4
    /// bytes is caught only when it makes the size larger than the block (writing <c>0x00</c> just before a block under
    /// 16 MiB changes nothing); from 5 bytes before the block it changes the head canary. On 16-byte-aligned layouts the
    /// head's 8 extra bytes, and the gap before a block aligned beyond the layout, are head canaries too. The head keeps
    /// the size in 32 bits, as on the chip: with poisoning, a request of more than 4 GiB − 1 KiB fails, on the process
    /// heap too.
    /// </summary>
    Light,

    /// <summary>
    /// Light, plus new blocks filled with <c>0xCE</c> and freed blocks with <c>0xFE</c>; free memory is
    /// verified when it is about to be handed out again and by integrity checks, which catches writes after
    /// free (in emulated chip RAM; on the process heap only the quarantine can). Damaged free memory is
    /// reported and set aside, never handed out. As on the chip, the spare bytes a block has past its tail canary
    /// (TLSF's rounding) stay <c>0xFE</c> while it is live and are not refilled by its free, so an overrun that jumps
    /// the canary into them is found in free memory after the free. A realloc moves the block (never in place, as on
    /// the chip) and the bytes it grows by read <c>0xFE</c>, not <c>0xCE</c>: ESP-IDF takes the new block without the
    /// malloc fill.
    /// </summary>
    Comprehensive,
}
