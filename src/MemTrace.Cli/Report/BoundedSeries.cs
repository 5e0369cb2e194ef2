// BoundedSeries: a time series of at most a fixed number of points, whatever the trace's length.
// Points fall into buckets of equal width, half as many as the points allowed (each bucket gives
// one or two); when the buckets run out, neighbours merge and the width doubles (so a 1 GB trace
// and a 1 KB trace both give a few hundred points). A bucket keeps its maximum
// (memory in use: the peak within the interval) or its minimum (largest free block: the worst
// fragmentation within it), and the last value added to it, which the series holds
// until its next point: a step chart drawn from the kept values alone would carry a peak over
// the gap after it (a region emptied in the first millisecond shown full for the whole trace).
namespace MemTrace.Cli.Report;

internal sealed class BoundedSeries
{
    private readonly long[] _buckets;
    private readonly double[] _values;
    private readonly double[] _lasts;
    private readonly bool _keepMinimum;
    private double _width = 0.001;
    private int _count;

    /// <param name="capacity">The most points <see cref="Points"/> gives (at least 2).</param>
    /// <param name="keepMinimum">Whether a bucket keeps the lowest value added to it rather than the highest.</param>
    public BoundedSeries(int capacity, bool keepMinimum)
    {
        var buckets = Math.Max(1, capacity / 2);
        _buckets = new long[buckets];
        _values = new double[buckets];
        _lasts = new double[buckets];
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
            _lasts[_count - 1] = value;
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
        _lasts[_count] = value;
        _count++;
    }

    /// <summary>
    /// The points, at most the capacity: each bucket's start time in seconds and its kept value, and, when the
    /// bucket's last value differs from it and no bucket follows right after, that last value at the bucket's end.
    /// </summary>
    public IReadOnlyList<(double Seconds, double Value)> Points()
    {
        var points = new List<(double, double)>(_count);
        for (var i = 0; i < _count; i++)
        {
            points.Add((_buckets[i] * _width, _values[i]));
            if (_lasts[i] != _values[i] && (i == _count - 1 || _buckets[i + 1] > _buckets[i] + 1))
            {
                points.Add(((_buckets[i] + 1) * _width, _lasts[i]));
            }
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
                _lasts[kept - 1] = _lasts[i];
                continue;
            }

            _buckets[kept] = bucket;
            _values[kept] = _values[i];
            _lasts[kept] = _lasts[i];
            kept++;
        }

        _count = kept;
    }
}
