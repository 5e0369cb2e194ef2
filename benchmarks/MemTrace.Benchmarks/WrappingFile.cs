// WrappingFile: a real local file for trace benchmarks that would otherwise write gigabytes:
// every write goes to the file through the operating system, and the file position wraps to the
// start after 256 MiB, so the disk holds at most that much whatever the run's length.
namespace MemTrace.Benchmarks;

public sealed class WrappingFile : Stream
{
    private const long Limit = 256L * 1024 * 1024;
    private readonly FileStream _file;

    public WrappingFile(string path) =>
        _file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, bufferSize: 0);

    public long BytesWritten { get; private set; }

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (_file.Position > Limit)
        {
            _file.Position = 0;
        }

        _file.Write(buffer);
        BytesWritten += buffer.Length;
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _file.Dispose();
        }

        base.Dispose(disposing);
    }
}
