using Lru.Tensors;

namespace Lru.Scans;

/// <summary>
/// The work-efficient parallel associative scan: an up-sweep that builds a balanced tree of
/// partial results, then a down-sweep that pushes prefixes back down (Blelloch 1990, in the
/// in-place inclusive form of Brent and Kung). It performs fewer than <c>2·length</c> combines in
/// <c>2·log2(length)</c> levels, and the combines within a level run in parallel.
/// </summary>
public static class TreeScan
{
    /// <summary>
    /// Replaces every element <c>i</c> of a sequence of <paramref name="length"/> elements with the
    /// inclusive prefix <c>element[0] • … • element[i]</c>, in place.
    /// </summary>
    /// <typeparam name="TOperator">The associative operator; see <see cref="IScanOperator"/>.</typeparam>
    /// <param name="length">The number of elements.</param>
    /// <param name="op">The operator, which owns the elements.</param>
    /// <param name="threads">The largest number of threads to use (null: <see cref="Parallelism.MaxThreads"/>).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="length"/> is negative or <paramref name="threads"/> is less than 1.</exception>
    /// <remarks>The order of combines does not depend on <paramref name="threads"/>, so neither do the results.</remarks>
    public static void InclusiveScan<TOperator>(int length, ref TOperator op, int? threads = null)
        where TOperator : struct, IScanOperator
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        int workers = Parallelism.Resolve(threads);
        if (length < 2) return;

        // Up-sweep: after level d, element (j+1)·2^(d+1) − 1 holds the composition of its aligned
        // block of 2^(d+1) elements.
        int top = 0;
        for (int span = 1; span < length; span <<= 1, top++)
        {
            int pairs = length / (2 * span);
            var level = new Level<TOperator>(op, span, upSweep: true);
            Parallelism.For(pairs, pairs >= 2 ? workers : 1, ref level);
        }

        // Down-sweep: element (j+1)·2^(d+1) + 2^d − 1 receives the full prefix that ends just before
        // its own block of 2^d elements.
        for (int d = top - 1; d >= 0; d--)
        {
            int span = 1 << d;
            int pairs = (length - span) / (2 * span);
            var level = new Level<TOperator>(op, span, upSweep: false);
            Parallelism.For(pairs, pairs >= 2 ? workers : 1, ref level);
        }
    }

    private struct Level<TOperator> : IIndexedWork where TOperator : struct, IScanOperator
    {
        private TOperator _op;
        private readonly int _span;
        private readonly bool _upSweep;

        public Level(TOperator op, int span, bool upSweep)
        {
            _op = op;
            _span = span;
            _upSweep = upSweep;
        }

        public void Run(int j)
        {
            int blockEnd = (j + 1) * 2 * _span - 1;
            if (_upSweep)
                _op.Combine(blockEnd - _span, blockEnd, _span);
            else
                _op.Combine(blockEnd, blockEnd + _span, _span);
        }
    }
}
