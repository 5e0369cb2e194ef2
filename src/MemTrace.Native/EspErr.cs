// esp_err_t values the exports return (ESP-IDF's esp_err.h).
namespace MemTrace.Native;

internal static class EspErr
{
    public const int Ok = 0;
    public const int Fail = -1;
    public const int NoMemory = 0x101;
    public const int InvalidArgument = 0x102;
    public const int InvalidState = 0x103;
    public const int InvalidSize = 0x104;

    /// <summary>A <see cref="HeapCapsResult"/> as ESP-IDF's esp_err_t.</summary>
    public static int From(HeapCapsResult result) => result switch
    {
        HeapCapsResult.Ok => Ok,
        HeapCapsResult.NoMemory => NoMemory,
        HeapCapsResult.InvalidArgument => InvalidArgument,
        HeapCapsResult.InvalidSize => InvalidSize,
        _ => Fail,
    };

    /// <summary>Writes why an export failed to stderr; exceptions never cross into C.</summary>
    public static void Report(string export, Exception exception) =>
        Console.Error.WriteLine($"memtrace: {export}: {exception.Message}");
}
