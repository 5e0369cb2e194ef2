// StackCapture remembers, per method, whether a printed stack trace hides its frames. A method that can be
// collected (a DynamicMethod, from Expression.Compile, Regex, serializers; or a method of a collectible assembly,
// from a collectible AssemblyLoadContext or AssemblyBuilderAccess.RunAndCollect) must not be kept alive by that
// memory: a process that compiles and drops such methods while stacks are captured would otherwise grow without
// bound, and a collectible AssemblyLoadContext that ever allocated through a tracker could never unload.
using System.Diagnostics;
using System.Reflection;
using System.Reflection.Emit;
using System.Runtime.CompilerServices;
using MemTrace.Tracking;
using Xunit;

namespace MemTrace.Tests.Tracking;

public class StackCaptureCacheTests
{
    [Fact]
    public void A_dynamic_method_on_a_captured_stack_can_still_be_collected()
    {
        var method = CaptureThroughDynamicMethod();

        Assert.False(IsAliveAfterCollections(method), "the DynamicMethod is still alive after the stack was captured and dropped");
    }

    [Fact]
    public void A_collectible_assembly_whose_method_was_on_a_captured_stack_can_still_be_collected()
    {
        var type = CaptureThroughCollectibleAssembly();

        Assert.False(IsAliveAfterCollections(type), "the collectible assembly's type is still alive after the stack was captured and dropped");
    }

    /// <summary>Whether the object <paramref name="weak"/> refers to survives a few full collections.</summary>
    private static bool IsAliveAfterCollections(WeakReference weak)
    {
        for (var i = 0; i < 20 && weak.IsAlive; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            if (weak.IsAlive)
            {
                Thread.Sleep(10);
            }
        }

        return weak.IsAlive;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference CaptureThroughDynamicMethod()
    {
        var method = new DynamicMethod("CapturesAStack", typeof(void), Type.EmptyTypes, typeof(StackCaptureCacheTests).Module);
        EmitCapture(method.GetILGenerator());
        s_sawCaller = false;
        method.CreateDelegate<Action>()();
        Assert.True(s_sawCaller, "the DynamicMethod's frame was not on the captured stack");
        return new WeakReference(method);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference CaptureThroughCollectibleAssembly()
    {
        var assembly = AssemblyBuilder.DefineDynamicAssembly(new AssemblyName("MemTrace.Tests.Collectible"), AssemblyBuilderAccess.RunAndCollect);
        var builder = assembly.DefineDynamicModule("Collectible").DefineType("Caller", TypeAttributes.Public | TypeAttributes.Abstract | TypeAttributes.Sealed);
        EmitCapture(builder.DefineMethod("CapturesAStack", MethodAttributes.Public | MethodAttributes.Static, typeof(void), Type.EmptyTypes).GetILGenerator());
        var type = builder.CreateType();
        s_sawCaller = false;
        type.GetMethod("CapturesAStack")!.CreateDelegate<Action>()();
        Assert.True(s_sawCaller, "the collectible method's frame was not on the captured stack");
        return new WeakReference(type);
    }

    private static bool s_sawCaller;

    /// <summary>IL that calls <see cref="Capture"/> and drops its result (not a tail call, so the frame stays).</summary>
    private static void EmitCapture(ILGenerator il)
    {
        il.Emit(OpCodes.Call, typeof(StackCaptureCacheTests).GetMethod(nameof(Capture))!);
        il.Emit(OpCodes.Pop);
        il.Emit(OpCodes.Ret);
    }

    /// <summary>Captures the stack, notes whether its caller's frame was kept, and drops the frames. Public: emitted code calls it.</summary>
    /// <returns>The number of frames kept.</returns>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static int Capture()
    {
        var frames = StackCapture.Capture(StackCapture.MaxDepth)!;
        s_sawCaller = frames.Length > 1 && frames[1].GetMethod()?.Name == "CapturesAStack";
        return frames.Length;
    }
}
