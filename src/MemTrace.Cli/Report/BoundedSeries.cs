// BoundedSeries: a time series of at most a fixed number of points, whatever the trace's length.
// Points fall into buckets of equal width; when the buckets run out, neighbours merge and the
// width doubles (so a 1 GB trace and a 1 KB trace both give a few hundred points). A bucket keeps
// its maximum (memory in use: the peak within the interval) or its minimum (largest free block:
// the worst fragmentation within it).
namespace MemTrace.Cli.Report;

internal sealed class BoundedSeries
{
    private readonly long[] _buckets;
    private readonly double[] _values;
    private readonly bool _keepMinimum;
    private double _width = 0.001;
    private int _count;

    public BoundedSeries(int capacity, bool keepMinimum)
    {
        _buckets = new long[capacity];
        _values = new double[capacity];
        _keepMinimum = keepMinimum;
    }

    public int Count => _count;

    /// <summary>Adds a value at <paramref name="seconds"/> from the trace's start (times that go back a little join the last bucket).</summary>
    public void Add(double seconds, double value)
    {
        var bucket = (long)(Math.Max(0, seconds) / _width);
        if (_count > 0 && bucket <= _buckets[_count - 1])
        {
            ref var last = ref _values[_count - 1];
            last = _keepMinimum ? Math.Min(last, value) : Math.Max(last, value);
            return;
        }

        if (_count == _buckets.Length)
        {
            // Sparse buckets (points far apart) may need several doublings before two merge.
            while (_count == _buckets.Length)
            {
                Halve();
            }

            Add(seconds, value);
            return;
        }

        _buckets[_count] = bucket;
        _values[_count] = value;
        _count++;
    }

    /// <summary>The points: each bucket's start time in seconds and its kept value.</summary>
    public IReadOnlyList<(double Seconds, double Value)> Points()
    {
        var points = new (double, double)[_count];
        for (var i = 0; i < _count; i++)
        {
            points[i] = (_buckets[i] * _width, _values[i]);
        }

        return points;
    }

    private void Halve()
    {
        _width *= 2;
        var kept = 0;
        for (var i = 0; i < _count; i++)
        {
            var bucket = _buckets[i] / 2;
            if (kept > 0 && _buckets[kept - 1] == bucket)
            {
                _values[kept - 1] = _keepMinimum ? Math.Min(_values[kept - 1], _values[i]) : Math.Max(_values[kept - 1], _values[i]);
                continue;
            }

            _buckets[kept] = bucket;
            _values[kept] = _values[i];
            kept++;
        }

        _count = kept;
    }
}
