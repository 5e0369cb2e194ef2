// ThrowHelper: throw sites kept out of hot methods so those stay small and inlinable
// (dotnet/runtime's pattern: [DoesNotReturn] Throw* calling a NoInlining Create*).
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace MemTrace.Internals;

internal static class ThrowHelper
{
    [DoesNotReturn]
    public static void ThrowObjectDisposed(object owner) => throw CreateObjectDisposed(owner);

    [DoesNotReturn]
    public static void ThrowArgumentNull(string paramName) => throw new ArgumentNullException(paramName);

    [DoesNotReturn]
    public static void ThrowInvalidOperation(string message) => throw new InvalidOperationException(message);

    [DoesNotReturn]
    public static void ThrowArgumentOutOfRange(string paramName, string message) => throw new ArgumentOutOfRangeException(paramName, message);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ObjectDisposedException CreateObjectDisposed(object owner) => new(owner.GetType().Name);
}
