namespace Lru.Tensors;

/// <summary>
/// A small, fast, seedable pseudo-random generator (xoshiro256**, seeded through SplitMix64) whose
/// sequence is fixed by this library rather than by the runtime, so a seed gives the same
/// initialisation on every platform and .NET version.
/// </summary>
public sealed class SeededRandom
{
    private ulong _s0, _s1, _s2, _s3;
    private double _spareNormal;
    private bool _hasSpare;

    /// <summary>Creates a generator from a seed.</summary>
    /// <param name="seed">Any 64-bit value.</param>
    public SeededRandom(long seed) => Reseed(seed);

    /// <summary>Restarts the sequence from <paramref name="seed"/>, in place (allocates nothing).</summary>
    /// <param name="seed">Any 64-bit value.</param>
    public void Reseed(long seed)
    {
        ulong x = (ulong)seed;
        _s0 = SplitMix(ref x); _s1 = SplitMix(ref x); _s2 = SplitMix(ref x); _s3 = SplitMix(ref x);
        _hasSpare = false;
    }

    /// <summary>Mixes two values into one well-spread seed (for deriving per-step or per-layer seeds).</summary>
    /// <param name="a">The first value.</param>
    /// <param name="b">The second value.</param>
    public static long Combine(long a, long b)
    {
        ulong x = (ulong)a ^ ((ulong)b * 0x9E3779B97F4A7C15UL);
        return (long)SplitMix(ref x);
    }

    /// <summary>The next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        ulong result = RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0; _s3 ^= _s1; _s1 ^= _s2; _s0 ^= _s3; _s2 ^= t; _s3 = RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>A uniform double in the open interval (0, 1).</summary>
    public double NextOpenUnit() => ((NextUInt64() >> 11) + 0.5) * (1.0 / (1UL << 53));

    /// <summary>A uniform integer in [0, <paramref name="maxExclusive"/>).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxExclusive"/> is not positive.</exception>
    public int NextInt(int maxExclusive)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxExclusive);
        return (int)((NextUInt64() >> 32) * (ulong)maxExclusive >> 32);
    }

    /// <summary>A standard normal sample (Box–Muller, both values of each pair used).</summary>
    public double NextNormal()
    {
        if (_hasSpare) { _hasSpare = false; return _spareNormal; }
        double u1 = NextOpenUnit(), u2 = NextOpenUnit();
        double radius = Math.Sqrt(-2.0 * Math.Log(u1)), angle = 2.0 * Math.PI * u2;
        _spareNormal = radius * Math.Sin(angle);
        _hasSpare = true;
        return radius * Math.Cos(angle);
    }

    private static ulong RotateLeft(ulong x, int k) => (x << k) | (x >> (64 - k));

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
