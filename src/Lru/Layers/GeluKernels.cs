using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Lru.Layers;

/// <summary>
/// AVX-512 kernels for <see cref="Gelu{T}"/>: <c>GELU(x)</c>, and with it <c>GELU′(x)</c> for the backward pass, over
/// contiguous elements, in both forms. Double data, and float data in the tanh form (widened, computed in double and
/// rounded once), run eight doubles at a time; float data in the exact form runs sixteen floats at a time in float
/// (<see cref="ExactSingle"/>, the same method in float arithmetic, within a few float ulps).
/// </summary>
/// <remarks>
/// <para><b>Exact form.</b> With <c>a = |x|</c> and <c>z = a/√2</c>: <c>erfc(z) = exp(−x²/2)·erfcx(z)</c>, where
/// <c>erfcx(z) = exp(z²)·erfc(z)</c> is smooth and slowly varying. <c>x²/2</c> is split exactly into
/// <c>s + e</c> by a fused multiply-add (<c>a/2</c> is exact), so the Gaussian factor carries no rounding error of
/// the square. <c>erfcx</c> is a degree-13 polynomial in <c>h = z − c</c> on sixteen intervals <c>[k/2, k/2 + ½)</c>
/// of <c>[0, 8)</c> (coefficients looked up per lane with one two-table permute each), and
/// <c>erfcx(z) = (1/z)·S(1/z²)</c> with a degree-9 polynomial <c>S</c> for <c>z ≥ 8</c> (evaluated only when a
/// lane needs it). The coefficients are Chebyshev interpolants of <c>erfcx</c> computed with 50-digit arithmetic,
/// converted to the monomial basis and rounded to double; their own error is below 1.2e-16 relative.
/// <c>Φ(x) = ½·erfc(−x/√2)</c> is <c>½·erfc(z)</c> for negative x and <c>1 − ½·erfc(z)</c> otherwise, so the
/// negative tail keeps its relative accuracy; <c>φ(x) = exp(−x²/2)/√(2π)</c> reuses the same exponential.</para>
/// <para><b>Tanh form.</b> <c>½(1 + tanh u) = σ(2u) = 1/(1 + exp(−2u))</c>, so <c>GELU(x) = x·σ(2u)</c> and
/// <c>GELU′(x) = σ + 2x·σ·(1 − σ)·√(2/π)·(1 + 3·0.044715·x²)</c>, with <c>1 − σ = exp(−2u)·σ</c> when that is below ½,
/// which keeps both tails accurate without cancellation.</para>
/// <para><b>Exponential.</b> <c>exp(v) = 2^k·p(r)</c> with <c>k = round(v/ln 2)</c>, <c>r = v − k·ln 2</c> (two-part
/// ln 2 by fused multiply-adds), <c>p</c> a degree-11 Chebyshev interpolant of exp on <c>|r| ≤ ½ln 2</c> (error
/// 2e-17), and <c>2^k</c> applied as two powers of two so that results underflow gradually and overflow to ∞.</para>
/// <para><b>Accuracy</b> (measured). erfc against the scalar <see cref="ErrorFunction"/> on 2·10⁶ points of
/// [−6, 28]: at most 9.1e-16 relative wherever erfc is a normal double. Exact GELU in double against 50-digit values
/// at 3000 points of [−38, 38] (dense near 0): value at most 3.9e-16 relative, including the far negative tail
/// (the scalar formula reaches 1.7e-13 there, from rounding x/√2); GELU′ at most 1.6e-15 relative outside
/// ±0.05 of its zero at x ≈ −0.752. Exact GELU in float (<see cref="ExactSingle"/>) against the double kernel on
/// 2·10⁶ points of [−15, 15]: value at most 5.1 float ulps where it exceeds 1e-36 (the worst in the far negative tail,
/// where the exponential and erfcx errors add), GELU′ at most 3.9 ulps of the magnitude of its two terms; two results
/// in three equal the double result rounded to float. Tanh form against 50-digit values: 2e-15 relative for
/// moderate x, growing to 1.9e-13 at x = −19 from the rounding of u (the scalar <c>1 + tanh u</c> loses all digits
/// below x ≈ −5). Special values: NaN gives NaN; ±0 gives ±0 with GELU′(±0) = ½; +∞ gives +∞ and −∞ gives NaN
/// (<c>−∞·0</c>), as in the scalar formulas.</para>
/// </remarks>
internal static class GeluKernels
{
    private const double SqrtHalf = 0.70710678118654752440;      // 1/√2
    private const double InvSqrtTwoPi = 0.39894228040143267794;  // 1/√(2π)
    private const double SqrtTwoOverPi = 0.79788456080286535588; // √(2/π)
    private const double TanhCubic = 0.044715;
    private const double Log2E = 1.4426950408889634;
    private const double Ln2Hi = 0.6931471805599453, Ln2Lo = 2.3190468138462996e-17; // ln 2 = Ln2Hi + Ln2Lo
    private const double Clamp = 39.0;    // |x| beyond which exp(−x²/2) is 0 in double
    private const double TailStart = 8.0; // z from which erfcx uses the 1/z² expansion
    private const double TailCentre = 0.008450255102040817;

    /// <summary>True when the vector kernels run on this machine (AVX-512F); otherwise callers use the scalar reference.</summary>
    public static bool IsSupported => Avx512F.IsSupported;

    /// <summary>
    /// <c>y[i] = GELU(x[i])</c> for <c>i &lt; count</c>, and <c>derivative[i] = GELU′(x[i])</c> unless
    /// <paramref name="derivative"/> is null (the two share their exponential and erfc). <paramref name="y"/> may equal
    /// <paramref name="x"/>.
    /// </summary>
    public static unsafe void Forward(double* x, double* y, double* derivative, int count, bool tanh)
    {
        if (tanh) Forward<TanhForm>(x, y, derivative, count);
        else Forward<ExactForm>(x, y, derivative, count);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Forward<TForm>(double* x, double* y, double* derivative, int count) where TForm : IForm
    {
        int i = 0;
        if (derivative == null)
            for (; i <= count - 8; i += 8) TForm.Value(Vector512.Load(x + i)).Store(y + i);
        else
        {
            for (; i <= count - 8; i += 8)
            {
                TForm.Value(Vector512.Load(x + i), out Vector512<double> d).Store(y + i);
                d.Store(derivative + i);
            }
        }
        if (i == count) return;
        // The last 1–7 elements go through the same vector code, padded with zeros, so every element's result
        // is independent of its position.
        double* buffer = stackalloc double[16];
        Vector512<double>.Zero.Store(buffer);
        int rest = count - i;
        new ReadOnlySpan<double>(x + i, rest).CopyTo(new Span<double>(buffer, rest));
        TForm.Value(Vector512.Load(buffer), out Vector512<double> dr).Store(buffer);
        dr.Store(buffer + 8);
        new ReadOnlySpan<double>(buffer, rest).CopyTo(new Span<double>(y + i, rest));
        if (derivative != null) new ReadOnlySpan<double>(buffer + 8, rest).CopyTo(new Span<double>(derivative + i, rest));
    }

    /// <summary>
    /// As the double overload, for float data: the exact form computed in float (<see cref="ExactSingle"/>, within a few
    /// float ulps), the tanh form computed in double and rounded once (the derivative too).
    /// </summary>
    public static unsafe void Forward(float* x, float* y, float* derivative, int count, bool tanh)
    {
        if (tanh) Forward<TanhForm>(x, y, derivative, count);
        else ForwardSingle(x, y, derivative, count);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ForwardSingle(float* x, float* y, float* derivative, int count)
    {
        int i = 0;
        if (derivative == null)
            for (; i <= count - 16; i += 16) ExactSingle(Vector512.Load(x + i), out _).Store(y + i);
        else
        {
            for (; i <= count - 16; i += 16)
            {
                ExactSingle(Vector512.Load(x + i), out Vector512<float> d).Store(y + i);
                d.Store(derivative + i);
            }
        }
        if (i == count) return;
        // The last 1–15 elements go through the same vector code, padded with zeros.
        float* buffer = stackalloc float[32];
        Vector512<float>.Zero.Store(buffer);
        int rest = count - i;
        new ReadOnlySpan<float>(x + i, rest).CopyTo(new Span<float>(buffer, rest));
        ExactSingle(Vector512.Load(buffer), out Vector512<float> dr).Store(buffer);
        dr.Store(buffer + 16);
        new ReadOnlySpan<float>(buffer, rest).CopyTo(new Span<float>(y + i, rest));
        if (derivative != null) new ReadOnlySpan<float>(buffer + 16, rest).CopyTo(new Span<float>(derivative + i, rest));
    }

    /// <summary>
    /// The exact form in float, sixteen lanes: <c>GELU(x) = (x·½)·erfc(−x/√2)</c> and
    /// <c>GELU′(x) = ½·erfc(−x/√2) + x/√(2π)·exp(−x²/2)</c>, with <c>erfc(|x|/√2) = exp(−x²/2)·erfcx(|x|/√2)</c> as in the
    /// double kernels: <c>x²/2</c> split exactly into <c>s + e</c> by a fused multiply-add, a float exponential (degree 6)
    /// and a float erfcx (degree 8 on the sixteen intervals <c>[k/2, k/2 + ½)</c> in <c>h = z − k/2</c>, so
    /// <c>erfcx(0) = 1</c> exactly; degree 4 in <c>1/z²</c> from z = 8). |x| is clamped at 15, beyond which
    /// <c>exp(−x²/2)</c> is 0 in float. Coefficients: <c>benchmarks/python/gelu_float_coefficients.py</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> ExactSingle(Vector512<float> x, out Vector512<float> derivative)
    {
        Vector512<float> a = Vector512.MinNative(Vector512.Abs(x), Vector512.Create(ClampSingle));
        Vector512<float> half = a * Vector512.Create(0.5f);
        Vector512<float> s = half * a, e = Vector512.FusedMultiplyAdd(half, a, -s); // x²/2 = s + e exactly
        Vector512<float> gauss = ExpSingle(-s, -e);
        Vector512<float> upper = gauss * ErfcxSingle(a * Vector512.Create((float)SqrtHalf)); // erfc(|x|/√2)
        Vector512<float> erfc = Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512<float>.Zero), upper, Vector512.Create(2f) - upper);
        derivative = Vector512.FusedMultiplyAdd(Vector512.Create(0.5f), erfc, x * Vector512.Create((float)InvSqrtTwoPi) * gauss);
        return x * Vector512.Create(0.5f) * erfc;
    }

    /// <summary>
    /// <c>exp(hi + lo)</c> in float for <c>hi</c> in [−113, 0] and <c>|lo|</c> below an ulp of <c>hi</c>; results below the
    /// float range underflow gradually (to 0 at −113). Also the GLU gate's exponential.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> ExpSingle(Vector512<float> hi, Vector512<float> lo)
    {
        Vector512<float> k = Vector512.Round(hi * Vector512.Create((float)Log2E));
        Vector512<float> r = Vector512.FusedMultiplyAdd(k, Vector512.Create(-Ln2HiSingle), hi);
        r = Vector512.FusedMultiplyAdd(k, Vector512.Create(-Ln2LoSingle), r) + lo;
        Vector512<float> p = Vector512.FusedMultiplyAdd(Vector512.Create(ExpSingle6), r, Vector512.Create(ExpSingle5));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(ExpSingle4));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(ExpSingle3));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(ExpSingle2));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(ExpSingle1));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(ExpSingle0));
        // 2^k as 2^k1·2^k2 with k1 = ⌊k/2⌋, both normal for k ≥ −163.
        Vector512<int> ki = Vector512.ConvertToInt32Native(k);
        Vector512<int> k1 = Vector512.ShiftRightArithmetic(ki, 1), k2 = ki - k1;
        Vector512<float> scale1 = Vector512.ShiftLeft(k1 + Vector512.Create(127), 23).AsSingle();
        Vector512<float> scale2 = Vector512.ShiftLeft(k2 + Vector512.Create(127), 23).AsSingle();
        return p * scale1 * scale2;
    }

    /// <summary><c>erfcx(z)</c> in float for <c>0 ≤ z ≤ 10.61</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> ErfcxSingle(Vector512<float> z)
    {
        Vector512<float> interval = Vector512.MinNative(Vector512.Floor(z * Vector512.Create(2f)), Vector512.Create(15f));
        Vector512<int> index = Vector512.ConvertToInt32Native(interval);
        Vector512<float> h = Vector512.FusedMultiplyAdd(interval, Vector512.Create(-0.5f), z); // exact: z − k/2 with k/2 ≤ z < k/2 + ½
        ref float table = ref MemoryMarshal.GetReference(ErfcxTableSingle);
        Vector512<float> p = Vector512.FusedMultiplyAdd(CoefficientSingle(ref table, 8, index), h, CoefficientSingle(ref table, 7, index));
        p = Vector512.FusedMultiplyAdd(p, h, CoefficientSingle(ref table, 6, index));
        p = Vector512.FusedMultiplyAdd(p, h, CoefficientSingle(ref table, 5, index));
        p = Vector512.FusedMultiplyAdd(p, h, CoefficientSingle(ref table, 4, index));
        p = Vector512.FusedMultiplyAdd(p, h, CoefficientSingle(ref table, 3, index));
        p = Vector512.FusedMultiplyAdd(p, h, CoefficientSingle(ref table, 2, index));
        p = Vector512.FusedMultiplyAdd(p, h, CoefficientSingle(ref table, 1, index));
        p = Vector512.FusedMultiplyAdd(p, h, CoefficientSingle(ref table, 0, index));
        Vector512<float> tailStart = Vector512.Create((float)TailStart);
        if (Vector512.GreaterThanOrEqualAny(z, tailStart))
        {
            Vector512<float> inverse = Vector512<float>.One / z;
            Vector512<float> w = inverse * inverse - Vector512.Create(TailCentreSingle);
            Vector512<float> q = Vector512.FusedMultiplyAdd(Vector512.Create(TailSingle4), w, Vector512.Create(TailSingle3));
            q = Vector512.FusedMultiplyAdd(q, w, Vector512.Create(TailSingle2));
            q = Vector512.FusedMultiplyAdd(q, w, Vector512.Create(TailSingle1));
            q = Vector512.FusedMultiplyAdd(q, w, Vector512.Create(TailSingle0));
            p = Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(z, tailStart), inverse * q, p);
        }
        return p;
    }

    /// <summary>The coefficient of <c>h^j</c> of each lane's interval: one permute of the 16-entry row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> CoefficientSingle(ref float table, int j, Vector512<int> index) =>
        Avx512F.PermuteVar16x32(Vector512.LoadUnsafe(ref table, (nuint)(j * 16)), index);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Forward<TForm>(float* x, float* y, float* derivative, int count) where TForm : IForm
    {
        int i = 0;
        if (derivative == null)
        {
            for (; i <= count - 16; i += 16)
            {
                (Vector512<double> lower, Vector512<double> upper) = Vector512.Widen(Vector512.Load(x + i));
                Vector512.Narrow(TForm.Value(lower), TForm.Value(upper)).Store(y + i);
            }
        }
        else
        {
            for (; i <= count - 16; i += 16) ForwardVector<TForm>(x + i, y + i, derivative + i);
        }
        if (i == count) return;
        float* buffer = stackalloc float[48];
        Vector512<float>.Zero.Store(buffer);
        int rest = count - i;
        new ReadOnlySpan<float>(x + i, rest).CopyTo(new Span<float>(buffer, rest));
        ForwardVector<TForm>(buffer, buffer + 16, buffer + 32);
        new ReadOnlySpan<float>(buffer + 16, rest).CopyTo(new Span<float>(y + i, rest));
        if (derivative != null) new ReadOnlySpan<float>(buffer + 32, rest).CopyTo(new Span<float>(derivative + i, rest));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void ForwardVector<TForm>(float* x, float* y, float* derivative) where TForm : IForm
    {
        (Vector512<double> lower, Vector512<double> upper) = Vector512.Widen(Vector512.Load(x));
        Vector512<double> valueLower = TForm.Value(lower, out Vector512<double> derivativeLower);
        Vector512<double> valueUpper = TForm.Value(upper, out Vector512<double> derivativeUpper);
        Vector512.Narrow(valueLower, valueUpper).Store(y);
        Vector512.Narrow(derivativeLower, derivativeUpper).Store(derivative);
    }

    /// <summary>erfc over a span (used by the tests to measure accuracy); any input, NaN gives NaN.</summary>
    public static unsafe void Erfc(ReadOnlySpan<double> z, Span<double> result)
    {
        if (result.Length != z.Length) throw new ArgumentException("result and z differ in length.", nameof(result));
        double* buffer = stackalloc double[8];
        for (int i = 0; i < z.Length; i += 8)
        {
            int n = Math.Min(8, z.Length - i);
            Vector512<double>.Zero.Store(buffer);
            z.Slice(i, n).CopyTo(new Span<double>(buffer, n));
            Vector512<double> v = Vector512.Load(buffer);
            // erfc(|z|) = exp(−z²)·erfcx(|z|), with z² split exactly into s + e.
            Vector512<double> a = Vector512.MinNative(Vector512.Abs(v), Vector512.Create(Clamp * SqrtHalf));
            Vector512<double> s = a * a, e = Vector512.FusedMultiplyAdd(a, a, -s);
            Vector512<double> erfc = Exp(-s, -e) * Erfcx(a);
            erfc = Vector512.ConditionalSelect(Vector512.LessThan(v, Vector512<double>.Zero), Vector512.Create(2.0) - erfc, erfc);
            erfc = Vector512.ConditionalSelect(Vector512.Equals(v, v), erfc, v); // NaN stays NaN
            erfc.Store(buffer);
            new ReadOnlySpan<double>(buffer, n).CopyTo(result.Slice(i, n));
        }
    }

    /// <summary>One form of GELU, per lane of eight doubles.</summary>
    private interface IForm
    {
        /// <summary>GELU(x).</summary>
        static abstract Vector512<double> Value(Vector512<double> x);

        /// <summary>GELU(x), and GELU′(x) in <paramref name="derivative"/>.</summary>
        static abstract Vector512<double> Value(Vector512<double> x, out Vector512<double> derivative);
    }

    /// <summary><c>x·Φ(x)</c>.</summary>
    private readonly struct ExactForm : IForm
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<double> Value(Vector512<double> x) =>
            x * Vector512.Create(0.5) * ErfcOfMinusXOverSqrt2(x, out _); // (x·½)·erfc(−x/√2), as the scalar reference

        // GELU′(x) = Φ(x) + x·φ(x) = ½·erfc(−x/√2) + x/√(2π)·exp(−x²/2).
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<double> Value(Vector512<double> x, out Vector512<double> derivative)
        {
            Vector512<double> erfc = ErfcOfMinusXOverSqrt2(x, out Vector512<double> gauss);
            derivative = Vector512.FusedMultiplyAdd(Vector512.Create(0.5), erfc, x * Vector512.Create(InvSqrtTwoPi) * gauss);
            return x * Vector512.Create(0.5) * erfc;
        }
    }

    /// <summary><c>½x·(1 + tanh(√(2/π)(x + 0.044715x³)))</c>.</summary>
    private readonly struct TanhForm : IForm
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<double> Value(Vector512<double> x) => x * TanhGate(x, out _);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<double> Value(Vector512<double> x, out Vector512<double> derivative)
        {
            Vector512<double> sigma = TanhGate(x, out Vector512<double> complement);
            Vector512<double> slope = Vector512.FusedMultiplyAdd(Vector512.Create(3 * TanhCubic) * x, x, Vector512<double>.One) * Vector512.Create(SqrtTwoOverPi);
            derivative = Vector512.FusedMultiplyAdd(x + x, sigma * complement * slope, sigma);
            return x * sigma;
        }
    }

    /// <summary><c>erfc(−x/√2) = 2Φ(x)</c>, and <c>exp(−x²/2)</c> in <paramref name="gauss"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<double> ErfcOfMinusXOverSqrt2(Vector512<double> x, out Vector512<double> gauss)
    {
        // a = min(|x|, 39) (NaN becomes 39 here; the callers' products with x restore it).
        Vector512<double> a = Vector512.MinNative(Vector512.Abs(x), Vector512.Create(Clamp));
        Vector512<double> half = a * Vector512.Create(0.5);
        Vector512<double> s = half * a, e = Vector512.FusedMultiplyAdd(half, a, -s); // x²/2 = s + e exactly
        gauss = Exp(-s, -e);
        Vector512<double> upper = gauss * Erfcx(a * Vector512.Create(SqrtHalf)); // erfc(|x|/√2)
        return Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512<double>.Zero), upper, Vector512.Create(2.0) - upper);
    }

    /// <summary><c>σ(2u) = ½(1 + tanh u)</c> with <c>u = √(2/π)(x + 0.044715x³)</c>, and <c>1 − σ</c> in <paramref name="complement"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<double> TanhGate(Vector512<double> x, out Vector512<double> complement)
    {
        Vector512<double> u = Vector512.Create(SqrtTwoOverPi) * (x + Vector512.Create(TanhCubic) * x * x * x);
        // exp(−2u), with −2u held in [−750, 750]: 0 and ∞ at the ends, so σ is exactly 1 or 0 there.
        Vector512<double> v = Vector512.MaxNative(Vector512.MinNative(u * Vector512.Create(-2.0), Vector512.Create(750.0)), Vector512.Create(-750.0));
        Vector512<double> e = Exp(v, Vector512<double>.Zero);
        Vector512<double> sigma = Vector512<double>.One / (Vector512<double>.One + e);
        complement = Vector512.ConditionalSelect(Vector512.LessThan(e, Vector512<double>.One), e * sigma, Vector512<double>.One - sigma);
        return sigma;
    }

    /// <summary><c>exp(hi + lo)</c> for <c>hi</c> in [−800, 750] and <c>|lo|</c> below an ulp of <c>hi</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<double> Exp(Vector512<double> hi, Vector512<double> lo)
    {
        Vector512<double> k = Vector512.Round(hi * Vector512.Create(Log2E));
        Vector512<double> r = Vector512.FusedMultiplyAdd(k, Vector512.Create(-Ln2Hi), hi);
        r = Vector512.FusedMultiplyAdd(k, Vector512.Create(-Ln2Lo), r) + lo;
        Vector512<double> p = Vector512.FusedMultiplyAdd(Vector512.Create(E11), r, Vector512.Create(E10));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(E9));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(E8));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(E7));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(E6));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(E5));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(E4));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(E3));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(E2));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(E1));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(E0));
        // 2^k as 2^k1·2^k2 with k1 = ⌊k/2⌋, both normal for |k| ≤ 1200.
        Vector512<long> ki = Vector512.ConvertToInt64Native(k);
        Vector512<long> k1 = Vector512.ShiftRightArithmetic(ki, 1), k2 = ki - k1;
        Vector512<double> scale1 = Vector512.ShiftLeft(k1 + Vector512.Create(1023L), 52).AsDouble();
        Vector512<double> scale2 = Vector512.ShiftLeft(k2 + Vector512.Create(1023L), 52).AsDouble();
        return p * scale1 * scale2;
    }

    /// <summary><c>erfcx(z) = exp(z²)·erfc(z)</c> for <c>0 ≤ z ≤ 27.6</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<double> Erfcx(Vector512<double> z)
    {
        Vector512<double> interval = Vector512.MinNative(Vector512.Floor(z * Vector512.Create(2.0)), Vector512.Create(15.0));
        Vector512<long> index = Vector512.ConvertToInt64Native(interval);
        Vector512<double> h = z - Vector512.FusedMultiplyAdd(interval, Vector512.Create(0.5), Vector512.Create(0.25));
        ref double table = ref MemoryMarshal.GetReference(ErfcxTable);
        Vector512<double> p = Vector512.FusedMultiplyAdd(Coefficient(ref table, 13, index), h, Coefficient(ref table, 12, index));
        p = Vector512.FusedMultiplyAdd(p, h, Coefficient(ref table, 11, index));
        p = Vector512.FusedMultiplyAdd(p, h, Coefficient(ref table, 10, index));
        p = Vector512.FusedMultiplyAdd(p, h, Coefficient(ref table, 9, index));
        p = Vector512.FusedMultiplyAdd(p, h, Coefficient(ref table, 8, index));
        p = Vector512.FusedMultiplyAdd(p, h, Coefficient(ref table, 7, index));
        p = Vector512.FusedMultiplyAdd(p, h, Coefficient(ref table, 6, index));
        p = Vector512.FusedMultiplyAdd(p, h, Coefficient(ref table, 5, index));
        p = Vector512.FusedMultiplyAdd(p, h, Coefficient(ref table, 4, index));
        p = Vector512.FusedMultiplyAdd(p, h, Coefficient(ref table, 3, index));
        p = Vector512.FusedMultiplyAdd(p, h, Coefficient(ref table, 2, index));
        p = Vector512.FusedMultiplyAdd(p, h, Coefficient(ref table, 1, index));
        p = Vector512.FusedMultiplyAdd(p, h, Coefficient(ref table, 0, index));
        Vector512<double> tailStart = Vector512.Create(TailStart);
        if (Vector512.GreaterThanOrEqualAny(z, tailStart))
        {
            Vector512<double> inverse = Vector512<double>.One / z;
            Vector512<double> w = inverse * inverse - Vector512.Create(TailCentre);
            Vector512<double> q = Vector512.FusedMultiplyAdd(Vector512.Create(T9), w, Vector512.Create(T8));
            q = Vector512.FusedMultiplyAdd(q, w, Vector512.Create(T7));
            q = Vector512.FusedMultiplyAdd(q, w, Vector512.Create(T6));
            q = Vector512.FusedMultiplyAdd(q, w, Vector512.Create(T5));
            q = Vector512.FusedMultiplyAdd(q, w, Vector512.Create(T4));
            q = Vector512.FusedMultiplyAdd(q, w, Vector512.Create(T3));
            q = Vector512.FusedMultiplyAdd(q, w, Vector512.Create(T2));
            q = Vector512.FusedMultiplyAdd(q, w, Vector512.Create(T1));
            q = Vector512.FusedMultiplyAdd(q, w, Vector512.Create(T0));
            p = Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(z, tailStart), inverse * q, p);
        }
        return p;
    }

    /// <summary>The coefficient of <c>h^j</c> of each lane's interval: a permute across the two halves of the 16-entry row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<double> Coefficient(ref double table, int j, Vector512<long> index) =>
        Avx512F.PermuteVar8x64x2(
            Vector512.LoadUnsafe(ref table, (nuint)(j * 16)), index, Vector512.LoadUnsafe(ref table, (nuint)(j * 16 + 8)));

    // Degree-11 polynomial for exp on |r| ≤ ½ln 2 (Chebyshev interpolant, 50-digit arithmetic).
    private const double E0 = 1.0;
    private const double E1 = 1.0;
    private const double E2 = 0.5000000000000019;
    private const double E3 = 0.1666666666666668;
    private const double E4 = 0.04166666666648795;
    private const double E5 = 0.008333333333319589;
    private const double E6 = 0.0013888888952352863;
    private const double E7 = 0.00019841269890076403;
    private const double E8 = 2.4801485441561313e-05;
    private const double E9 = 2.755724088722987e-06;
    private const double E10 = 2.763265472252779e-07;
    private const double E11 = 2.5110049204818658e-08;

    // The float exact form (ExactSingle): clamp, two-part ln 2 for float, and the coefficients printed by
    // benchmarks/python/gelu_float_coefficients.py (Chebyshev interpolants at 50 digits, rounded to float; exp degree 6,
    // the tail degree 4 in 1/z² − TailCentreSingle, erfcx degree 8 in h = z − k/2 on [k/2, k/2 + ½)).
    private const float ClampSingle = 15f; // |x| beyond which exp(−x²/2) is 0 in float
    private const float Ln2HiSingle = 0.693145751953125f, Ln2LoSingle = 1.4286068e-06f; // ln 2 = Ln2HiSingle + Ln2LoSingle
    private const float TailCentreSingle = 0.012179693207144737f;
    private const float TailSingle0 = 0.5608146786689758f;
    private const float TailSingle1 = -0.2722330391407013f;
    private const float TailSingle2 = 0.3875108063220978f;
    private const float TailSingle3 = -0.89944988489151f;
    private const float TailSingle4 = 2.860713005065918f;
    private const float ExpSingle0 = 1.0f;
    private const float ExpSingle1 = 1.0f;
    private const float ExpSingle2 = 0.5f;
    private const float ExpSingle3 = 0.16666404902935028f;
    private const float ExpSingle4 = 0.041666340082883835f;
    private const float ExpSingle5 = 0.008375967852771282f;
    private const float ExpSingle6 = 0.0013942159712314606f;
    // erfcx on [k/2, k/2 + ½), k = 0..15: row j holds the coefficient of h^j, h = z − k/2, for the 16 intervals.
    private static ReadOnlySpan<float> ErfcxTableSingle =>
    [
        // h^0
        1.0f, 0.6156903505325317f, 0.42758357524871826f, 0.32158541679382324f, 0.25539568066596985f, 0.21080636978149414f, 0.17900115251541138f, 0.15529365837574005f,
        0.1369994580745697f, 0.12248480319976807f, 0.11070463806390762f, 0.10096222162246704f, 0.09277656674385071f, 0.08580566942691803f, 0.07980005443096161f, 0.07457369565963745f,
        // h^1
        -1.1283791065216064f, -0.5126888155937195f, -0.2732120156288147f, -0.1636229157447815f, -0.10679645836353302f, -0.0743473470211029f, -0.054372258484363556f, -0.041323576122522354f,
        -0.0323835052549839f, -0.026015928015112877f, -0.021332789212465286f, -0.017794765532016754f, -0.015060353092849255f, -0.012905456125736237f, -0.01117840688675642f, -0.009773771278560162f,
        // h^2
        0.9999980330467224f, 0.3593456447124481f, 0.15437151491641998f, 0.07615102827548981f, 0.041802749037742615f, 0.02493799664080143f, 0.01588437147438526f, 0.01066113356500864f,
        0.007465433329343796f, 0.005413125269114971f, 0.004040688741952181f, 0.003091012593358755f, 0.0024144467897713184f, 0.0019202078692615032f, 0.00155120890121907f, 0.0012704094406217337f,
        // h^3
        -0.7522119879722595f, -0.22200489044189453f, -0.07922600209712982f, -0.032930705696344376f, -0.015460590831935406f, -0.008001556620001793f, -0.0044794268906116486f, -0.0026730732060968876f,
        -0.0016811816021800041f, -0.0011045759310945868f, -0.0007528967107646167f, -0.0005294637521728873f, -0.00038244816823862493f, -0.0002827364660333842f, -0.00021329603623598814f, -0.00016380033048335463f,
        // h^4
        0.49957138299942017f, 0.12411078065633774f, 0.03756214305758476f, 0.013375269249081612f, 0.005440244916826487f, 0.0024669021368026733f, 0.0012229977874085307f, 0.0006526723154820502f,
        0.0003703472902998328f, 0.0002212643885286525f, 0.00013810153177473694f, 8.948040340328589e-05f, 5.987865733914077e-05f, 4.121026358916424e-05f, 2.906825829995796e-05f, 2.0953430066583678e-05f,
        // h^5
        -0.29833728075027466f, -0.06361539661884308f, -0.016601571813225746f, -0.005133692175149918f, -0.001828748150728643f, -0.0007327973144128919f, -0.00032388276304118335f, -0.00015538673324044794f,
        -7.987849676283076e-05f, -4.3538700992939994e-05f, -2.4948707505245693e-05f, -1.4925410141586326e-05f, -9.268920621252619e-06f, -5.94709990764386e-06f, -3.926862973457901e-06f, -2.6596048883220647e-06f,
        // h^6
        0.15746431052684784f, 0.02946307882666588f, 0.00675625167787075f, 0.0018428313778713346f, 0.0005822156672365963f, 0.00020823867816943675f, 8.270586840808392e-05f, 3.5895271139452234e-05f,
        1.679999695625156e-05f, 8.38715277495794e-06f, 4.426398390933173e-06f, 2.4512769414286595e-06f, 1.415675797034055e-06f, 8.482646194352128e-07f, 5.25073517110286e-07f, 3.3453875403210986e-07f,
        // h^7
        -0.06591109931468964f, -0.011159076355397701f, -0.0023122162092477083f, -0.0005701884510926902f, -0.00016320496797561646f, -5.305278318701312e-05f, -1.9224558855057694e-05f, -7.644662218808662e-06f,
        -3.2923503567872103e-06f, -1.518932208455226e-06f, -7.438494549205643e-07f, -3.837328961253661e-07f, -2.07199960300386e-07f, -1.164731244784889e-07f, -6.785099060380162e-08f, -4.080337134837464e-08f,
        // h^8
        0.015687691047787666f, 0.002486962592229247f, 0.0004816433065570891f, 0.00011093469947809353f, 2.9665026886505075e-05f, 9.018191121867858e-06f, 3.0608507586293854e-06f, 1.1422232546465239e-06f,
        4.6262766772997566e-07f, 2.011722557426765e-07f, 9.306810966336343e-08f, 4.54569395458293e-08f, 2.3289345563171082e-08f, 1.2447827657524613e-08f, 6.90852930418373e-09f, 3.965551886864205e-09f,
    ];

    // S(w) = z·erfcx(z) at w = 1/z², z in [8, 28]: degree 9 in w − TailCentre.
    private const double T0 = 0.5618354057050797;
    private const double T1 = -0.2751615532441036;
    private const double T2 = 0.39781701845977796;
    private const double T3 = -0.9435953177328763;
    private const double T4 = 3.085521655151216;
    private const double T5 = -12.778359584179547;
    private const double T6 = 63.733103725109565;
    private const double T7 = -370.2892956038218;
    private const double T8 = 2466.6761341235897;
    private const double T9 = -18252.580323122296;

    // erfcx on [k/2, k/2 + ½), k = 0..15: row j holds the coefficient of h^j, h = z − (k/2 + ¼), for the 16 intervals.
    private static ReadOnlySpan<double> ErfcxTable =>
    [
        // h^0
        0.7703465477309968, 0.5069376502931449, 0.3678229164523611, 0.2849722347374364, 0.23108725873039188, 0.1936620962790687, 0.16633534842682188, 0.14558972127503855,
        0.12934527478598792, 0.11630270721024731, 0.1056127354688918, 0.09669877816971392, 0.08915663178727438, 0.08269505677505307, 0.0770991803512599, 0.07220717081466976,
        // h^1
        -0.7432058932300142, -0.3679726916557954, -0.20882187596460985, -0.1309763455144852, -0.08848650280874916, -0.06323763756063484, -0.047199402321170376, -0.03645625753272353,
        -0.028944331414615332, -0.02350344859816315, -0.01944544467214865, -0.016343218143802483, -0.0139212697545827, -0.01199590063229627, -0.010441052002244, -0.009168019468131287,
        // h^2
        0.5845450744234543, 0.23095813155129497, 0.10679557149659845, 0.05576363008708723, 0.031992627410706256, 0.019758592987322864, 0.012937290883018157, 0.008878755527325298,
        0.006331866273872749, 0.00466132636897234, 0.003524150940111397, 0.002725273842849635, 0.0021486958211325118, 0.0017227275070532352, 0.0014015533349909033, 0.0011550199366522939,
        // h^3
        -0.39804641641608063, -0.12983606199488007, -0.05021827439590747, -0.022259995241388317, -0.011002060756440045, -0.005934337896997976, -0.003435471300907574, -0.00210728287016911,
        -0.0013559331671040983, -0.0009080988970296905, -0.0006291014910425433, -0.00044859569827805586, -0.00032794724833633417, -0.0002449933064579556, -0.0001865268823733005, -0.00014440997271733912,
        // h^4
        0.24251673516968592, 0.06679054252841538, 0.022011364250946238, 0.008404319207340187, 0.0036189953543597905, 0.001719581885289515, 0.0008860045775343321, 0.00048822238209558116,
        0.0002845751568401692, 0.00017392830404065597, 0.00011068405606902267, 7.2924288875407e-05, 4.9512759515211706e-05, 3.451134423101759e-05, 2.4616718892237405e-05, 1.7921324046457802e-05,
        // h^5
        -0.1349668930538738, -0.031897262039946896, -0.009081627632959959, -0.0030209746514281146, -0.0011437284836541604, -0.0004821950849811217, -0.00022238256956848873, -0.00011057957492429544,
        -5.8595500213358165e-05, -3.277578113463187e-05, -1.920407867207035e-05, -1.1712414897786451e-05, -7.397000546504483e-06, -4.816693159434775e-06, -3.222268161831734e-06, -2.207884542916477e-06,
        // h^6
        0.06959166967777988, 0.01428919858470859, 0.003553109894683297, 0.001039204521356914, 0.0003485354218814771, 0.00013118180050158485, 5.442040880644052e-05, 2.4516325375175097e-05,
        1.1848093644133921e-05, 6.081114550292908e-06, 3.287547680190039e-06, 1.8593010710359471e-06, 1.0938353665164203e-06, 6.662218016097882e-07, 4.1842490631865704e-07, 2.7007294628484694e-07,
        // h^7
        -0.033591135499288036, -0.006051532271776434, -0.0013257829272368543, -0.00034353335318474803, -0.00010272108111777696, -3.469860957140213e-05, -1.3004640264149419e-05, -5.326672789022946e-06,
        -2.3546006354783887e-06, -1.1115677200716773e-06, -5.55558100260598e-07, -2.918382112209443e-07, -1.60151287358778e-07, -9.134171387438075e-08, -5.3910740290851303e-08, -3.280548834496836e-08,
        // h^8
        0.015298515250521273, 0.002437641069942269, 0.0004739707006153454, 0.0001095053381684006, 2.9353254863530408e-05, 8.940157366119897e-06, 3.0388322525197412e-06, 1.1353256642536615e-06,
        4.602602510051801e-07, 2.002919741920613e-07, 9.271691472357647e-08, 4.5307839541466324e-08, 2.3222455274678816e-08, 1.2416308292602761e-08, 6.893009823291225e-09, 3.957602911383781e-09,
        // h^9
        -0.006614796692472582, -0.000938513222881505, -0.00016296012111131222, -3.375536830552878e-05, -8.150285053705488e-06, -2.2473737254695783e-06, -6.952081224454215e-07, -2.3760040556954934e-07,
        -8.855436560091711e-08, -3.5595747942067336e-08, -1.52876234438342e-08, -6.959585888416656e-09, -3.3357650839409882e-09, -1.6736962864193206e-09, -8.74759829798184e-10, -4.74236856091448e-10,
        // h^10
        0.002727934946560977, 0.00034666379283020214, 5.404491508514403e-05, 1.0085518680104132e-05, 2.2028461470983834e-06, 5.519449177126979e-07, 1.558749388297477e-07, 4.8863416523494246e-08,
        1.678048346916335e-08, 6.242335630900769e-09, 2.4913485679760037e-09, 1.0580344538295682e-09, 4.74781328455259e-10, 2.2377042398033203e-10, 1.1019972343610302e-10, 5.645325472646042e-11,
        // h^11
        -0.0010782944814138457, -0.00012332717214560827, -1.7341459254977562e-05, -2.92763224927802e-06, -5.805909757132036e-07, -1.3261857188670576e-07, -3.4288600060257634e-08, -9.882877201280105e-09,
        -3.1337186685536493e-09, -1.0807446894693348e-09, -4.0142946040380724e-10, -1.5924080266529063e-10, -6.697421638495729e-11, -2.967938580703561e-11, -1.3783267544691303e-11, -6.6768091787461754e-12,
        // h^12
        0.0004216964091547484, 4.337915907561481e-05, 5.501701839828387e-06, 8.406449608561853e-07, 1.5147418685283685e-07, 3.1568164431976944e-08, 7.478692856076797e-09, 1.983538604342367e-09,
        5.811724586030923e-10, 1.859478945996065e-10, 6.432031515574242e-11, 2.384598604374149e-11, 9.40464753540593e-12, 3.9202830825707735e-12, 1.7175179308139687e-12, 7.869983810141406e-13,
        // h^13
        -0.00015423073872615053, -1.440376961255891e-05, -1.6610767030625112e-06, -2.3131132443809953e-07, -3.8093997572624824e-08, -7.279738484278512e-09, -1.586936266709577e-09, -3.886928977136085e-10,
        -1.0555257375577111e-10, -3.141135105048579e-11, -1.0140384592111234e-11, -3.5200073691581453e-12, -1.3038514623932293e-12, -5.119372913761977e-13, -2.1183224507356643e-13, -9.190883007734599e-14,
    ];
}
