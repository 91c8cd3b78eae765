namespace Lru.Scans;

/// <summary>How a linear recurrence <c>x_t = λ ⊙ x_{t-1} + b_t</c> is evaluated over time (LRU-MATH §3).</summary>
/// <remarks>Every mode computes the same values up to floating-point rounding.</remarks>
public enum ScanMode
{
    /// <summary>
    /// Pick from the shape and the machine's core count, never from the thread setting, so results do not depend on
    /// the number of threads (see <see cref="DiagonalRecurrence.Scan{T}"/>).
    /// </summary>
    Auto = 0,

    /// <summary>One pass over time, SIMD across channels, parallel across batch rows and channel blocks.</summary>
    Sequential = 1,

    /// <summary>Scan-then-propagate across time: local scans per chunk, an in-order carry pass, then a <c>λ^k</c> fix-up; parallel across chunks.</summary>
    Chunked = 2,

    /// <summary>The work-efficient up-sweep/down-sweep parallel associative scan (Blelloch; Brent–Kung in its inclusive form).</summary>
    Tree = 3,
}
