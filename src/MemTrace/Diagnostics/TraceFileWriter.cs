// TraceFileWriter: the JSON Lines trace sink. Emit, on the allocating thread, only copies the
// event's 80 reference-free bytes into that thread's own ring (ThreadRings, EventRing: one
// producer, one consumer), with plain stores and a release store of the ring's tail: no
// interlocked operation, no lock, no write barrier, no throw, and no allocation after the
// thread's first event. A background thread drains the rings, encodes the events and writes
// whole lines to the file, so formatting and I/O stay off the allocation path, and no two
// emitting threads write to one cache line.
//
// Order: each thread's events keep their order, and the writer merges the rings by sequence
// number (EventRingMerge). So the file is in sequence order except in a rare race across
// threads at the boundary between two drains: an event published just after the writer read its
// ring's tail, while another thread's event with a larger number was already published, comes
// after it. The merge's two snapshots of the tails keep that race to events that happened
// concurrently, with one exception: an event is published after its heap call, so an allocation
// is always written before what follows it on another thread (the free of its block there), but
// a free (or a realloc that moves its block) is published after the heap has released the block,
// and another thread's allocation of that address can be written first, although its number is
// larger. (The report handles both orders; sorting by number puts a free first.)
//
// Nothing is lost silently. When a thread's ring is full, TraceBufferFullMode says whether the
// emitting thread waits or the event is dropped; drops (and events lost to a failed write, or
// emitted after Dispose began) are counted and written into the file as "dropped" lines. Drops
// of a full ring are counted in that ring (plain stores, summed by the writer), so dropping
// costs the emitting thread no interlocked operation either. A write that fails is
// reported to the SelfLog and the writer goes on with the next batch.
//
// Waking the writer: before it waits, the writer announces it with an interlocked exchange of its
// state (a full fence) and only then looks at the rings; a producer publishes with a release
// store of its tail and then reads the state. Without a fence on the producer's side (a store
// followed by a load may be reordered, even on x86) the two can pass each other: the producer
// reads Busy, the writer finds no event and waits, and that wake-up is missed. The writer never
// waits without a timeout (BusyPoll 10 ms, IdlePoll 200 ms after a quiet second), so a miss
// delays the event by one poll period at most; a fence on every event would cost more than the
// race. A producer in Wait mode whose ring is full wakes the writer itself while it spins.
//
// Crash safety: the writer writes only complete lines, in batches, each handed to the operating
// system with one write call (TraceFlushPolicy says when), so after a SIGKILL the file holds
// every line handed over; a write the kernel cut short can leave one torn last line, which
// TraceReader reports instead of failing. Dispose drains the rings, writes an "end" line, and
// flushes the file to the disk.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using MemTrace.Diagnostics.Sinks;
using MemTrace.Internals;

namespace MemTrace.Diagnostics;

/// <summary>Writes heap events to a JSON Lines trace file from a background thread.</summary>
/// <remarks>
/// <para>Line format: see <see cref="TraceFormat"/> and docs/tracing.md. Read traces with <see cref="TraceReader"/>
/// or <c>memtrace report</c>.</para>
/// <para>Cost on the emitting thread: no interlocked operation, an 80-byte copy into the thread's own
/// ring (allocated on the thread's first event, <see cref="TraceFileOptions.Capacity"/> events) and a
/// release store of its tail, plus, once every 32 events, zeroing the next 32 free slots so that their
/// cache lines come back from the writer's core together; a dropped event costs a few loads and a store
/// (see docs/benchmarks.md).
/// Throughput is bounded by the writer thread (about six million events per second on one core);
/// with <see cref="TraceBufferFullMode.Wait"/> a program that emits faster slows to that pace, with
/// <see cref="TraceBufferFullMode.Drop"/> it does not, and the file counts what was dropped.</para>
/// <para>Events of one thread are written in the order emitted; events of several threads in
/// <see cref="HeapEvent.Sequence"/> order, except that two events emitted at the same moment on two
/// threads may be written in the other order than their numbers. An allocation is always written
/// before what follows it on another thread (the free of its block there); but a free, or a realloc
/// that moves its block, is written after the heap released the block, so another thread's
/// allocation of the same address may come first in the file, with a larger number.
/// <c>memtrace report</c> handles both orders; sort by <see cref="HeapEvent.Sequence"/> to replay
/// frees before the re-allocations that follow them.</para>
/// </remarks>
public sealed class TraceFileWriter : IHeapEventSink, IDisposable
{
    private const int BatchBytes = 64 * 1024;
    private const int BusyPollMilliseconds = 10;
    private const int IdlePollMilliseconds = 200;
    private const long IdleAfterMilliseconds = 1000;
    private const long DropEndedEveryMilliseconds = 1000;
    private const int Busy = 0;
    private const int Polling = 1;
    private const int Sleeping = 2;

    private readonly Stream _stream;
    private readonly FileStream? _file;
    private readonly bool _ownsStream;
    private readonly TraceFileOptions _options;
    private EmitSide _emit;
    private readonly long _flushIntervalMilliseconds;
    private readonly long _wakeThreshold;
    private readonly TraceLineEncoder _encoder = new(BatchBytes * 2);
    private readonly ManualResetEventSlim _wake = new(false, spinCount: 1);
    private readonly Thread _thread;
    private readonly EventRingMerge _merge = new();
    private long _droppedClosed;
    private long _droppedIo;
    private long _droppedUnencodable;
    private long _written;
    private DropCounts _reported;
    private DropCounts _committed;
    private long _failedWrites;
    private long _eventsLostInFailedWrites;
    private long _handedOver;
    private int _flushRequested;
    private volatile bool _finished;
    private int _disposed;

    /// <summary>Creates (or replaces) <paramref name="path"/> and starts the writer thread.</summary>
    /// <param name="path">The trace file.</param>
    /// <param name="options">Settings; null for the defaults.</param>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range (the message names it).</exception>
    /// <exception cref="IOException">The file cannot be created, or another <see cref="TraceFileWriter"/> of this process is writing it (the file is left untouched).</exception>
    /// <exception cref="UnauthorizedAccessException">The file cannot be created.</exception>
    public TraceFileWriter(string path, TraceFileOptions? options = null)
        : this(OpenFile(path, options, out var fullPath), ownsStream: true, options)
    {
        Path = fullPath;
    }

    /// <summary>Writes the trace to <paramref name="stream"/> (for pipes, sockets and tests).</summary>
    /// <param name="stream">A writable stream.</param>
    /// <param name="ownsStream">Whether <see cref="Dispose"/> disposes the stream.</param>
    /// <param name="options">Settings; null for the defaults.</param>
    /// <exception cref="ArgumentNullException"><paramref name="stream"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="stream"/> is not writable.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range (the message names it).</exception>
    public TraceFileWriter(Stream stream, bool ownsStream = false, TraceFileOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanWrite)
        {
            throw new ArgumentException("The stream is not writable.", nameof(stream));
        }

        options = Validate(options);
        _stream = stream;
        _file = stream as FileStream;
        _ownsStream = ownsStream;
        _options = options;
        _flushIntervalMilliseconds = (long)options.FlushInterval.TotalMilliseconds;
        _emit.Rings = new ThreadRings(options.Capacity);
        _emit.DropWhenFull = options.FullMode == TraceBufferFullMode.Drop;
        _wakeThreshold = EventRing.SizeFor(options.Capacity) / 8;
        _thread = new Thread(Run) { IsBackground = true, Name = "MemTrace trace writer" };
        _thread.Start();
    }

    /// <summary>The full path of the trace file, or null when writing to a caller's stream.</summary>
    public string? Path { get; }

    /// <summary>The settings.</summary>
    public TraceFileOptions Options => _options;

    /// <summary>Event lines handed to the operating system so far.</summary>
    public long EventsWritten => Interlocked.Read(ref _written);

    /// <summary>The rings of the threads that emit to the writer (those of ended threads are dropped once empty).</summary>
    internal int RingCount => _emit.Rings.All.Length;

    /// <summary>Events not written, for any reason: the emitting thread's ring full in <see cref="TraceBufferFullMode.Drop"/> mode, a failed write, or emitted after <see cref="Dispose"/> began. Each is counted in a <c>dropped</c> line of the file too (except those that came after the end line).</summary>
    public long EventsDropped => DroppedCounted() + (_finished ? LeftInRings() : 0);

    /// <summary>Copies the event into the calling thread's ring for the writer thread. Allocation-free after the thread's first event (which allocates its ring); never throws.</summary>
    /// <param name="heapEvent">The event.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Emit(in HeapEvent heapEvent)
    {
        EventRing? ring = null;
        ref var slot = ref TryClaim(ref ring, out var tail, out var dropped);
        if (!Unsafe.IsNullRef(ref slot))
        {
            slot = HeapEvent.DataOf(in heapEvent);
            ring!.SetDetails(tail, heapEvent.Details);
            Publish(ring, tail);
        }
        else if (!dropped)
        {
            EmitSlow(in heapEvent);
        }
    }

    /// <summary>
    /// A slot of the calling thread's ring for an event built in place (then <see cref="Publish"/>), so that the
    /// emitting thread neither builds a <see cref="HeapEvent"/> nor copies it. A null reference when there is none:
    /// <paramref name="dropped"/> tells whether the event was counted as dropped (a full ring in drop mode) or must
    /// go the slow way (a full ring in wait mode, or closing: <see cref="Emit"/> takes it there).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ref HeapEventData TryClaim(ref EventRing? ring, out long tail, out bool dropped)
    {
        ref var emit = ref _emit;
        dropped = false;
        if (!Volatile.Read(ref emit.Closing))
        {
            var mine = ring;
            if (mine is null || !emit.Rings.Owns(mine))
            {
                ring = mine = emit.Rings.OfThisThread();
            }

            ref var slot = ref mine.TryClaim(out tail);
            if (!Unsafe.IsNullRef(ref slot))
            {
                return ref slot;
            }

            if (emit.DropWhenFull)
            {
                mine.CountDrop(); // Counted in this thread's ring, no call.
                dropped = true;
            }

            return ref Unsafe.NullRef<HeapEventData>();
        }

        tail = 0;
        return ref Unsafe.NullRef<HeapEventData>();
    }

    /// <summary>
    /// Whether an event the calling thread emitted now would be dropped: drop mode and the thread's ring full. The
    /// tracker asks before a free, so as not to number an event it will not write; the drop is then counted with
    /// <see cref="CountDrop"/>. Gives the thread no ring: a thread with none (or whose last ring is another writer's)
    /// is answered false, and the event, if one is emitted, takes the ordinary path (a number, then the ring).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool WouldDrop() => WouldDrop(_emit.Rings.CurrentOfThisThread());

    /// <summary>
    /// <see cref="WouldDrop()"/> for a caller that keeps the thread's ring itself (<see cref="TryClaim"/>'s
    /// <c>ring</c>): <paramref name="ring"/> is null when the thread has none yet.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool WouldDrop(EventRing? ring)
    {
        ref var emit = ref _emit;
        return emit.DropWhenFull && !Volatile.Read(ref emit.Closing) && ring is { IsFull: true } && emit.Rings.Owns(ring);
    }

    /// <summary>Counts one event of the calling thread dropped by a full ring (see <see cref="WouldDrop()"/>).</summary>
    internal void CountDrop() => _emit.Rings.OfThisThread().CountDrop();

    /// <summary>Publishes the slot claimed by <see cref="TryClaim"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Publish(EventRing ring, long tail)
    {
        ring.Publish(tail);
        if (Volatile.Read(ref _emit.WriterState) != Busy)
        {
            MaybeWake(ring);
        }
    }

    /// <summary>Waits until every event emitted before the call is handed to the operating system.</summary>
    /// <param name="timeout">How long to wait at most; <see cref="Timeout.InfiniteTimeSpan"/> to wait as long as it takes.</param>
    /// <returns>True when they were; false on timeout or when the writer has stopped.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is negative and not <see cref="Timeout.InfiniteTimeSpan"/>.</exception>
    public bool Flush(TimeSpan timeout)
    {
        if (timeout < TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "The timeout must not be negative, except Timeout.InfiniteTimeSpan.");
        }

        var target = _emit.Rings.Enqueued;
        var deadline = timeout == Timeout.InfiniteTimeSpan ? long.MaxValue : Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (Volatile.Read(ref _handedOver) < target)
        {
            if (_finished || Environment.TickCount64 > deadline)
            {
                return Volatile.Read(ref _handedOver) >= target;
            }

            Volatile.Write(ref _flushRequested, 1);
            Wake();
            Thread.Sleep(1);
        }

        return true;
    }

    /// <summary>Stops accepting events, writes every event in the rings, a <c>dropped</c> line if any were dropped, and an <c>end</c> line; flushes the file to the disk and closes it.</summary>
    /// <remarks>Events emitted while Dispose runs are counted as dropped. Errors go to the <see cref="SelfLog"/>.</remarks>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Volatile.Write(ref _emit.Closing, true);
        Wake();
        _thread.Join();
        _wake.Dispose();
        if (_ownsStream)
        {
            try
            {
                _stream.Dispose();
            }
            catch (Exception e)
            {
                SelfLog.WriteLine($"MemTrace: closing trace {Path ?? "stream"} failed: {SelfLog.MessageOf(e)}");
            }
        }

        if (Path is { } path)
        {
            TracePathRegistry.Release(path);
        }
    }

    /// <summary>The options, or the defaults for null; throws for an option out of range, before any file is created.</summary>
    private static TraceFileOptions Validate(TraceFileOptions? options)
    {
        options ??= new TraceFileOptions();
        if (options.Capacity <= 0 || options.Capacity > (1 << 24))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Capacity, $"TraceFileOptions.Capacity must be between 1 and 16777216 events, not {options.Capacity}.");
        }

        if (options.FlushInterval < TimeSpan.FromMilliseconds(1))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.FlushInterval, $"TraceFileOptions.FlushInterval must be at least 1 ms, not {options.FlushInterval}.");
        }

        if (!Enum.IsDefined(options.FlushPolicy))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.FlushPolicy, $"TraceFileOptions.FlushPolicy {(int)options.FlushPolicy} is not a TraceFlushPolicy value.");
        }

        if (!Enum.IsDefined(options.FullMode))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.FullMode, $"TraceFileOptions.FullMode {(int)options.FullMode} is not a TraceBufferFullMode value.");
        }

        return options;
    }

    private static FileStream OpenFile(string path, TraceFileOptions? options, out string fullPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Validate(options); // Bad options must neither truncate an existing file nor leave it open.
        fullPath = System.IO.Path.GetFullPath(path);
        if (!TracePathRegistry.TryAcquire(fullPath))
        {
            // Refused before the file is opened: FileMode.Create would cut the other writer's lines away.
            throw new IOException($"The trace file {fullPath} is being written by another TraceFileWriter of this process; dispose that writer first, or write to another file.");
        }

        try
        {
            // Unbuffered: the writer batches whole lines itself, so each write call carries only complete lines.
            // Readers may open the file while it is written (a report of a running program); other writers may not.
            return new FileStream(fullPath, FileMode.Create, FileAccess.Write, FileShare.Read | FileShare.Delete, bufferSize: 0);
        }
        catch
        {
            TracePathRegistry.Release(fullPath);
            throw;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void EmitSlow(in HeapEvent heapEvent)
    {
        // In drop mode Emit comes here only once closing (a full ring's drop is counted in Emit); Closing never goes back.
        if (Volatile.Read(ref _emit.Closing))
        {
            Interlocked.Increment(ref _droppedClosed);
            return;
        }

        var ring = _emit.Rings.OfThisThread();
        if (ring.Capacity == 0)
        {
            ring.CountDrop(); // The thread has no ring (no memory for it): there is nothing to wait for.
            return;
        }

        var spinner = default(SpinWait);
        while (!ring.TryEnqueue(in heapEvent))
        {
            if (Volatile.Read(ref _emit.Closing) || _finished)
            {
                Interlocked.Increment(ref _droppedClosed);
                return;
            }

            if (Volatile.Read(ref _emit.WriterState) != Busy)
            {
                Wake();
            }

            spinner.SpinOnce();
        }

        if (Volatile.Read(ref _emit.WriterState) != Busy)
        {
            MaybeWake(ring);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void MaybeWake(EventRing ring)
    {
        // The threshold is per ring: a thread whose ring is an eighth full wakes a polling writer.
        var state = Volatile.Read(ref _emit.WriterState);
        if (state == Sleeping || (state == Polling && ring.Count >= _wakeThreshold))
        {
            Wake();
        }
    }

    private void Wake()
    {
        if (Interlocked.Exchange(ref _emit.WriterState, Busy) != Busy)
        {
            try
            {
                _wake.Set();
            }
            catch (ObjectDisposedException)
            {
                // Disposed after the writer stopped: nothing to wake.
            }
        }
    }

    // ---- The writer thread ----

    private void Run()
    {
        var now = Environment.TickCount64;
        var nextTimedFlush = now + _flushIntervalMilliseconds;
        var lastEvent = now;
        var nextDropEnded = now + DropEndedEveryMilliseconds;
        var unsyncedBytes = false;
        long bufferedEvents = 0;
        _encoder.AppendHeader(DateTimeOffset.UtcNow, Environment.ProcessId, ProcessName());
        while (true)
        {
            var closing = Volatile.Read(ref _emit.Closing);
            var drained = Drain(final: closing, ref bufferedEvents, ref unsyncedBytes);
            ReportDrops(ref _reported.Full, _emit.Rings.Dropped, "full");
            ReportDrops(ref _reported.Io, Interlocked.Read(ref _droppedIo), "io");
            ReportDrops(ref _reported.Closed, Interlocked.Read(ref _droppedClosed), "closed");
            ReportDrops(ref _reported.Unencodable, Interlocked.Read(ref _droppedUnencodable), "unencodable");
            now = Environment.TickCount64;
            var timedFlushDue = now >= nextTimedFlush;
            if (timedFlushDue)
            {
                nextTimedFlush = now + _flushIntervalMilliseconds;
            }

            var forced = Interlocked.Exchange(ref _flushRequested, 0) != 0;
            if (_encoder.Length > 0 && (closing || forced || timedFlushDue || _options.FlushPolicy != TraceFlushPolicy.Interval))
            {
                WriteBatch(ref bufferedEvents, ref unsyncedBytes);
            }

            if (_encoder.Length == 0)
            {
                Volatile.Write(ref _handedOver, _merge.Taken);
            }

            if (unsyncedBytes && _options.FlushPolicy == TraceFlushPolicy.EachBatchAndDisk && timedFlushDue)
            {
                SyncToDisk();
                unsyncedBytes = false;
            }

            if (closing)
            {
                break;
            }

            if (now >= nextDropEnded)
            {
                _emit.Rings.DropEnded();
                nextDropEnded = now + DropEndedEveryMilliseconds;
            }

            if (drained > 0)
            {
                lastEvent = now;
                continue;
            }

            Idle(now - lastEvent >= IdleAfterMilliseconds, nextTimedFlush - now);
        }

        Finish(bufferedEvents);
    }

    /// <summary>Writes the events of every ring, merged by sequence number (see <see cref="EventRingMerge"/>); returns how many.</summary>
    private long Drain(bool final, ref long bufferedEvents, ref bool unsyncedBytes)
    {
        var merge = _merge;
        var before = merge.Taken;
        merge.Begin(_emit.Rings.All, final);
        while (!Encode(merge, ref bufferedEvents, ref unsyncedBytes))
        {
            // An event could not be encoded: dropped and counted; the others are written.
        }

        merge.End();
        return merge.Taken - before;
    }

    /// <summary>
    /// Encodes the events <paramref name="merge"/> hands out, writing each full batch; true once there are no more, false
    /// right after one that could not be encoded (its line is taken back, the event counted as dropped for reason
    /// "unencodable" and reported to the SelfLog): no event a sink is handed may end the writer's thread. One try around
    /// the loop, not one per event, which kept the writer about a fifth slower.
    /// </summary>
    private bool Encode(EventRingMerge merge, ref long bufferedEvents, ref bool unsyncedBytes)
    {
        var lineStart = _encoder.Length;
        var kind = default(HeapEventKind);
        try
        {
            while (merge.TryTake(out var heapEvent))
            {
                lineStart = _encoder.Length;
                kind = heapEvent.Kind;
                _encoder.AppendEvent(in heapEvent);
                bufferedEvents++;
                if (_encoder.Length >= BatchBytes)
                {
                    WriteBatch(ref bufferedEvents, ref unsyncedBytes);
                }
            }

            return true;
        }
        catch (Exception e)
        {
            _encoder.Truncate(lineStart);
            if (Interlocked.Increment(ref _droppedUnencodable) == 1)
            {
                SelfLog.WriteLine($"MemTrace: trace {Path ?? "stream"}: an event of kind {kind} could not be encoded and is dropped (counted in a 'dropped' line; later ones are counted, not logged): {SelfLog.MessageOf(e)}");
            }

            return false;
        }
    }

    /// <summary>Whether any ring holds an event not yet taken. Writer thread only.</summary>
    private bool AnyPending()
    {
        foreach (var ring in _emit.Rings.All)
        {
            if (ring.Tail != ring.Head)
            {
                return true;
            }
        }

        return false;
    }

    private long DroppedCounted() => _emit.Rings.Dropped + Interlocked.Read(ref _droppedClosed) + Interlocked.Read(ref _droppedIo) + Interlocked.Read(ref _droppedUnencodable);

    /// <summary>Events published into the rings after the writer's last look (emitted while Dispose ran): dropped.</summary>
    private long LeftInRings()
    {
        long left = 0;
        foreach (var ring in _emit.Rings.All)
        {
            left += ring.Count;
        }

        return left;
    }

    private void Idle(bool quiet, long untilTimedFlush)
    {
        // An interlocked exchange, not a volatile write: the state must be visible before the rings are read
        // (a plain store followed by a load may be reordered, even on x86). The producer has no such fence
        // between its publication and its read of the state, so it may still read Busy and not wake a writer
        // that saw an empty ring: the timeout bounds what that costs, one poll period.
        Interlocked.Exchange(ref _emit.WriterState, quiet ? Sleeping : Polling);
        if (AnyPending() || Volatile.Read(ref _emit.Closing) || Volatile.Read(ref _flushRequested) != 0)
        {
            Volatile.Write(ref _emit.WriterState, Busy);
            return;
        }

        var timeout = (int)Math.Clamp(untilTimedFlush, 1, quiet ? IdlePollMilliseconds : BusyPollMilliseconds);
        _wake.Wait(timeout);
        _wake.Reset();
        Volatile.Write(ref _emit.WriterState, Busy);
    }

    private void ReportDrops(ref long reported, long total, string reason)
    {
        if (total != reported)
        {
            _encoder.AppendDropped(total - reported, reason, DateTimeOffset.UtcNow);
            reported = total;
        }
    }

    private void WriteBatch(ref long bufferedEvents, ref bool unsyncedBytes)
    {
        try
        {
            _stream.Write(_encoder.Written);
            if (_file is null)
            {
                _stream.Flush();
            }

            Interlocked.Add(ref _written, bufferedEvents);
            unsyncedBytes = true;
            _committed = _reported;
            if (_failedWrites != 0)
            {
                SelfLog.WriteLine($"MemTrace: writing trace {Path ?? "stream"} works again after {Counted.Of(_failedWrites, "failed write")}; {Counted.Of(_eventsLostInFailedWrites, "event")} lost in them (counted in a 'dropped' line)");
                _failedWrites = 0;
                _eventsLostInFailedWrites = 0;
            }
        }
        catch (Exception e)
        {
            // Whatever the stream throws (a pipe, a socket, a user's stream: not only IOException) is a failed write: the writer
            // thread must go on, or the process would end on an unhandled exception.
            Interlocked.Add(ref _droppedIo, bufferedEvents);

            // The "dropped" lines of this batch are lost with it: report those counts again in the next one.
            _reported = _committed;

            // One message per run of failures (a full disk fails every batch): the first, and a sum when writes work again or the trace closes.
            if (_failedWrites++ == 0)
            {
                var lost = bufferedEvents == 0
                    ? "the write held no event (only a header, 'dropped' or end line)"
                    : $"{Counted.Of(bufferedEvents, "event")} lost (counted in a 'dropped' line if a later write succeeds)";
                SelfLog.WriteLine($"MemTrace: writing trace {Path ?? "stream"} failed: {SelfLog.MessageOf(e)}; {lost}. Further failures are summed, not logged one by one");
            }

            _eventsLostInFailedWrites += bufferedEvents;
        }

        bufferedEvents = 0;
        _encoder.Clear();
    }

    private void SyncToDisk()
    {
        try
        {
            _file?.Flush(flushToDisk: true);
        }
        catch (Exception e)
        {
            SelfLog.WriteLine($"MemTrace: flushing trace {Path ?? "stream"} to disk failed: {SelfLog.MessageOf(e)}");
        }
    }

    private void Finish(long bufferedEvents)
    {
        // Events that slipped into the rings after the last drain (emitted while Dispose began) are counted, not
        // written after "end". A producer that read Closing false just before Dispose may still publish one after
        // this: EventsDropped counts what is left in the rings once the writer has finished.
        long late = 0;
        foreach (var ring in _emit.Rings.All)
        {
            late += ring.Discard();
        }

        Interlocked.Add(ref _droppedClosed, late);
        _finished = true;
        var unsynced = false;
        ReportDrops(ref _reported.Full, _emit.Rings.Dropped, "full");
        ReportDrops(ref _reported.Io, Interlocked.Read(ref _droppedIo), "io");
        ReportDrops(ref _reported.Closed, Interlocked.Read(ref _droppedClosed), "closed");
        ReportDrops(ref _reported.Unencodable, Interlocked.Read(ref _droppedUnencodable), "unencodable");

        // The end line sums the "dropped" lines just written, not the counters again: producers still emitting while
        // Dispose runs go on counting drops, and the file must agree with itself. Those later drops are in EventsDropped.
        _encoder.AppendEnd(EventsWritten + bufferedEvents, _reported.Full + _reported.Io + _reported.Closed + _reported.Unencodable, DateTimeOffset.UtcNow);
        WriteBatch(ref bufferedEvents, ref unsynced);
        if (_failedWrites > 1)
        {
            SelfLog.WriteLine($"MemTrace: writing trace {Path ?? "stream"} failed {_failedWrites} times in a row, up to its end line; {Counted.Of(_eventsLostInFailedWrites, "event")} lost in them");
        }
        Volatile.Write(ref _handedOver, _merge.Taken + late);
        SyncToDisk();
    }

    /// <summary>
    /// What the emitting threads read on every event, alone on its cache lines: the writer thread writes its own
    /// fields (counts, flush requests) all the time, and a field of those on the same line would cost the
    /// emitting thread a cache miss each time. Only <see cref="WriterState"/> and <see cref="Closing"/> change,
    /// and rarely (when the writer waits or wakes, and once at Dispose).
    /// </summary>
    [StructLayout(LayoutKind.Explicit, Size = 192)]
    private struct EmitSide
    {
        [FieldOffset(64)]
        public ThreadRings Rings;

        [FieldOffset(72)]
        public int WriterState;

        [FieldOffset(76)]
        public bool Closing;

        [FieldOffset(77)]
        public bool DropWhenFull;
    }

    /// <summary>Dropped events by reason, as counted in "dropped" lines.</summary>
    private struct DropCounts
    {
        public long Full;
        public long Io;
        public long Closed;
        public long Unencodable;
    }

    /// <summary>The program's name: its entry assembly (not "dotnet" for `dotnet app.dll`), else the executable's.</summary>
    private static string? ProcessName()
    {
        var entry = System.Reflection.Assembly.GetEntryAssembly()?.GetName().Name;
        if (entry is not null)
        {
            return entry;
        }

        var path = Environment.ProcessPath;
        return path is null ? null : System.IO.Path.GetFileNameWithoutExtension(path);
    }
}
