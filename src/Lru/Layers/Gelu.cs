using System.Numerics;
using System.Runtime.CompilerServices;
using Lru.Modules;
using Lru.Tensors;

namespace Lru.Layers;

/// <summary>
/// The Gaussian error linear unit, elementwise: <c>y = x·Φ(x)</c> with <c>Φ</c> the standard normal
/// distribution function, or its tanh approximation (<see cref="GeluApproximation"/>). Input and output are (B, L, H).
/// </summary>
/// <remarks>
/// <para>On hardware with AVX-512 the work is done by SIMD kernels (<see cref="GeluKernels"/>: GELU and, in training,
/// GELU′ in one pass from one shared exponential and erfc); elsewhere the scalar double formulas below run and round
/// once to <typeparamref name="T"/>. Double data (the verification type) is computed in double, within a few units in
/// the last place of double. Float data in the exact form is computed in float, sixteen lanes at a time: within 5.1
/// float ulps of the exact value (3.9 ulps of the magnitude of GELU′'s two terms, which cancel near x ≈ −0.75), measured
/// on 2·10⁶ points of [−15, 15] wherever the result exceeds 1e-36, a few float subnormal steps below that, and equal to
/// the double result rounded to float for two values in three (2.5–2.7 times faster than computing in double; PyTorch
/// computes its float GELU in float too). The tanh form of float data is computed in double and rounded once.</para>
/// <para>The training forward keeps <c>GELU′(x)</c> as <typeparamref name="T"/>, so the backward pass is one product
/// <c>∂y ⊙ GELU′(x)</c> rounded once (exactly the double product for double data).</para>
/// <para>The scalar exact form uses <c>Φ(x) = ½·erfc(−x/√2)</c> with this library's own complementary error function
/// (relative error below 1e-15 wherever the result is a normal double; Taylor series around tabulated centres and
/// Laplace's continued fraction, allocation-free; 2e-16 to 7e-16 typical against 40-digit references). Through erfc
/// the result keeps its relative accuracy in the negative tail, where <c>1 + erf</c> would cancel; what remains is the
/// conditioning of Φ with respect to the rounding of <c>x/√2</c>, a relative <c>1e-16·x²</c> for negative x (the
/// kernels avoid it by using <c>x²/2</c> exactly).</para>
/// <para>Work is split over blocks of elements, so results do not depend on the thread count. Evaluation-mode forward passes may run on several threads at once; training is single-threaded (see <see cref="Module{T}"/>).</para>
/// </remarks>
/// <typeparam name="T"><see cref="float"/> for models, <see cref="double"/> for verification.</typeparam>
public sealed class Gelu<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private const int BlockSize = 4096;
    private const double SqrtHalf = 0.70710678118654752440;      // 1/√2
    private const double InvSqrtTwoPi = 0.39894228040143267794;  // 1/√(2π)
    private const double SqrtTwoOverPi = 0.79788456080286535588; // √(2/π)
    private const double TanhCubic = 0.044715;

    private T[] _derivative = [];

    /// <summary>Creates the activation for rows of <paramref name="features"/> values.</summary>
    /// <param name="features">H, at least 1.</param>
    /// <param name="approximation">Exact (default) or tanh form.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="features"/> is less than 1 or <paramref name="approximation"/> is not defined.</exception>
    public Gelu(int features, GeluApproximation approximation = GeluApproximation.None)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(features, 1);
        if (approximation is not (GeluApproximation.None or GeluApproximation.Tanh))
            throw new ArgumentOutOfRangeException(nameof(approximation), approximation, "approximation must be None or Tanh.");
        Features = features;
        Approximation = approximation;
    }

    /// <summary>H, the features per time step.</summary>
    public int Features { get; }

    /// <summary>The form of GELU computed.</summary>
    public GeluApproximation Approximation { get; }

    /// <inheritdoc/>
    public override int InputFeatures => Features;

    /// <inheritdoc/>
    public override int OutputFeatures => Features;

    /// <summary>True: elementwise.</summary>
    public override bool CanStream => true;

    /// <summary>True: elementwise, every element by the same vector formula wherever it sits (see <see cref="Modules.ChunkedEvaluation"/>).</summary>
    internal override bool EvaluatesInChunks(int batch, int length) => true;

    /// <summary>
    /// <c>y = GELU(x)</c> elementwise, split over blocks of elements; a training pass also keeps <c>GELU′(x)</c> (computed
    /// with the value, from the same exponential and erfc, rounded to <typeparamref name="T"/> once) for the backward pass.
    /// </summary>
    protected override unsafe void ForwardCore(ReadOnlySpan<T> input, Span<T> output, in SequenceShape shape, bool training)
    {
        if (training) Grow(ref _derivative, input.Length);
        fixed (T* x = input, y = output, d = _derivative)
        {
            var work = new Work { X = x, Y = y, Derivative = training ? d : null, Count = input.Length, Tanh = Approximation == GeluApproximation.Tanh };
            Parallelism.For((input.Length + BlockSize - 1) / BlockSize, Parallelism.MaxThreads, ref work);
        }
    }

    /// <summary><c>∂x += ∂y ⊙ GELU′(x)</c> (the product rounded once, then added); GELU has no parameters.</summary>
    protected override void BackwardCore(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape)
    {
        if (!gradInput.IsEmpty) Elementwise.Multiply(gradOutput, _derivative.AsSpan(0, gradOutput.Length), gradInput, accumulate: true, Parallelism.MaxThreads);
    }

    /// <summary><c>∂x = ∂y ⊙ GELU′(x)</c>.</summary>
    private protected override void BackwardReplacingCore(ReadOnlySpan<T> gradOutput, Span<T> gradInput, in SequenceShape shape) =>
        Elementwise.Multiply(gradOutput, _derivative.AsSpan(0, gradOutput.Length), gradInput, accumulate: false, Parallelism.MaxThreads);

    /// <summary>GELU(x) in double precision.</summary>
    internal static double Value(double x, bool tanh)
    {
        if (tanh) return 0.5 * x * (1 + Math.Tanh(SqrtTwoOverPi * (x + TanhCubic * x * x * x)));
        return x * 0.5 * ErrorFunction.Erfc(-x * SqrtHalf);
    }

    /// <summary>dGELU/dx in double precision.</summary>
    internal static double Derivative(double x, bool tanh)
    {
        if (tanh)
        {
            double t = Math.Tanh(SqrtTwoOverPi * (x + TanhCubic * x * x * x));
            return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * SqrtTwoOverPi * (1 + 3 * TanhCubic * x * x);
        }
        // Φ(x) + x·φ(x).
        return 0.5 * ErrorFunction.Erfc(-x * SqrtHalf) + x * InvSqrtTwoPi * Math.Exp(-0.5 * x * x);
    }

    /// <summary>
    /// One block of elements: <c>Y = GELU(X)</c>, and <c>Derivative = GELU′(X)</c> when that is set. Uses
    /// <see cref="GeluKernels"/> where the machine supports them and the double-precision scalar formulas otherwise.
    /// </summary>
    private unsafe struct Work : IIndexedWork
    {
        public T* X, Y, Derivative;
        public int Count;
        public bool Tanh;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void Run(int index)
        {
            int start = index * BlockSize, end = Math.Min(Count, start + BlockSize), n = end - start;
            if (GeluKernels.IsSupported)
            {
                if (typeof(T) == typeof(float))
                {
                    GeluKernels.Forward((float*)X + start, (float*)Y + start, Derivative == null ? null : (float*)Derivative + start, n, Tanh);
                    return;
                }
                if (typeof(T) == typeof(double))
                {
                    GeluKernels.Forward((double*)X + start, (double*)Y + start, Derivative == null ? null : (double*)Derivative + start, n, Tanh);
                    return;
                }
            }
            for (int i = start; i < end; i++)
            {
                double x = double.CreateTruncating(X[i]);
                if (Derivative != null) Derivative[i] = T.CreateTruncating(Gelu<T>.Derivative(x, Tanh));
                Y[i] = T.CreateTruncating(Value(x, Tanh));
            }
        }
    }
}

/// <summary>
/// The complementary error function <c>erfc(z) = (2/√π)·∫_z^∞ exp(−t²) dt</c> in double precision, with a relative
/// error below 1e-15 wherever the result is a normal double (measured against 40-digit references at 55 000 points
/// in [−8, 26.6]: worst 7.3e-16), and no allocation.
/// </summary>
/// <remarks>
/// <para>For <c>0 ≤ z &lt; 6</c>: a Taylor series around the nearest of the centres <c>c = k/8</c>,
/// <c>erfc(c + h) = erfc(c) − (2/√π)·Σ_n a_n h^(n+1)/(n+1)</c>, where <c>a_n</c> are the Taylor coefficients of
/// <c>exp(−t²)</c> at <c>c</c>: <c>a_0 = exp(−c²)</c>, <c>(n+1)·a_(n+1) = −2c·a_n − 2a_(n−1)</c>. With <c>|h| ≤ 1/16</c>
/// the terms fall quickly (at most about 20) and the correction never cancels more than half of <c>erfc(c)</c>.
/// The centre values are computed once: from the Maclaurin series of erf for <c>c &lt; 1</c> and from Laplace's
/// continued fraction <c>erfc(z) = exp(−z²)/√π · 1/(z + ½/(z + 1/(z + 3/2/(z + …))))</c>, evaluated backwards
/// from depth 2000, for <c>c ≥ 1</c>.</para>
/// <para>For <c>z ≥ 6</c>: the same continued fraction from depth 40 (converged to rounding there).
/// For <c>z &lt; 0</c>: <c>erfc(z) = 2 − erfc(−z)</c>. <c>exp(−z²)</c> is evaluated as <c>exp(−s)·(1 − e)</c> with
/// <c>s + e = z²</c> split exactly by a fused multiply-add, so the rounding of <c>z²</c> does not cost accuracy.</para>
/// </remarks>
internal static class ErrorFunction
{
    private const double CentreSpacing = 0.125, TaylorLimit = 6.0;
    private const double SqrtPi = 1.7724538509055160273;        // √π
    private const double TwoOverSqrtPi = 1.1283791670955125739; // 2/√π
    private const int MaxTerms = 40;

    private static readonly double[] s_centreErfc, s_centreGauss, s_reciprocals;

    static ErrorFunction()
    {
        int count = (int)(TaylorLimit / CentreSpacing) + 1;
        s_centreErfc = new double[count];
        s_centreGauss = new double[count];
        for (int k = 0; k < count; k++)
        {
            double c = k * CentreSpacing;
            s_centreGauss[k] = ExpMinusSquare(c);
            s_centreErfc[k] = c == 0 ? 1.0 : c < 1 ? 1 - ErfSeries(c) : ContinuedFraction(c, 2000);
        }
        s_reciprocals = new double[MaxTerms + 2];
        for (int n = 1; n < s_reciprocals.Length; n++) s_reciprocals[n] = 1.0 / n;
    }

    /// <summary>erfc(z); 2 for −∞, 0 for +∞ and for z above about 26.6 (underflow), NaN for NaN.</summary>
    public static double Erfc(double z)
    {
        if (double.IsNaN(z)) return z;
        if (z < 0) return 2 - Erfc(-z);
        if (z > 27.5) return 0; // erfc(27.3) is below the smallest subnormal
        if (z >= TaylorLimit) return ContinuedFraction(z, 40);

        int k = (int)(z * (1 / CentreSpacing) + 0.5);
        double c = k * CentreSpacing, h = z - c;
        // S = Σ_n a_n h^(n+1)/(n+1), with the a_n of exp(−t²) at c by their three-term recurrence.
        double previous = 0, a = s_centreGauss[k], power = h, sum = a * h;
        int small = 0;
        for (int n = 0; n < MaxTerms; n++)
        {
            double next = (-2 * c * a - 2 * previous) * s_reciprocals[n + 1];
            previous = a;
            a = next;
            power *= h;
            double term = a * power * s_reciprocals[n + 2];
            sum += term;
            // Stop after two consecutive negligible terms (a single a_n can vanish, e.g. every odd one at c = 0).
            if (Math.Abs(term) <= 1e-18 * Math.Abs(sum)) { if (++small == 2) break; }
            else small = 0;
        }
        return s_centreErfc[k] - TwoOverSqrtPi * sum;
    }

    /// <summary>exp(−z²) without the rounding error of z²: z² = s + e exactly, exp(−s − e) ≈ exp(−s)·(1 − e).</summary>
    private static double ExpMinusSquare(double z)
    {
        double s = z * z;
        double e = Math.FusedMultiplyAdd(z, z, -s);
        return Math.Exp(-s) * (1 - e);
    }

    /// <summary>erf(z) = (2/√π)·Σ_n (−1)^n z^(2n+1)/(n!·(2n+1)), for 0 &lt; z &lt; 1.</summary>
    private static double ErfSeries(double z)
    {
        double z2 = z * z, power = z, sum = z;
        for (int n = 1; n < 60; n++)
        {
            power *= -z2 / n;
            double term = power / (2 * n + 1);
            sum += term;
            if (Math.Abs(term) < 1e-18 * Math.Abs(sum)) break;
        }
        return TwoOverSqrtPi * sum;
    }

    /// <summary>Laplace's continued fraction for erfc, evaluated backwards from <paramref name="depth"/>; z &gt; 0.</summary>
    private static double ContinuedFraction(double z, int depth)
    {
        double t = z;
        for (int n = depth; n >= 1; n--) t = z + 0.5 * n / t;
        return ExpMinusSquare(z) / (SqrtPi * t);
    }
}
