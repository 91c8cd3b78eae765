using Lru.Layers;
using Lru.Tests.Support;
using Xunit.Abstractions;

namespace Lru.Tests.Layers;

public class GeluTests(ITestOutputHelper log)
{
    [Theory]
    [InlineData(GeluApproximation.None)]
    [InlineData(GeluApproximation.Tanh)]
    public void Gradients_MatchFiniteDifferences(GeluApproximation approximation) =>
        GradientCheck.Layer(new Gelu<double>(5, approximation), batch: 2, length: 3, seed: 3, inputScale: 2);

    /// <summary>
    /// Reference values x·Φ(x) and the tanh form, evaluated with 40 digits. The tolerance is the conditioning of
    /// the problem: rounding x/√2 to double alone moves Φ(x) by a relative 1e-16·x² in the negative tail.
    /// </summary>
    [Theory]
    [InlineData(GeluApproximation.None, 1.0, 0.8413447460685429)]
    [InlineData(GeluApproximation.None, -1.0, -0.15865525393145705)]
    [InlineData(GeluApproximation.None, 2.0, 1.9544997361036416)]
    [InlineData(GeluApproximation.None, -3.0, -0.0040496940948902838)]
    [InlineData(GeluApproximation.None, -10.0, -7.6198530241605260e-23)]
    [InlineData(GeluApproximation.None, 0.0, 0.0)]
    [InlineData(GeluApproximation.Tanh, 1.0, 0.8411919906082768)]
    public void Values_MatchKnownResults(GeluApproximation approximation, double x, double expected)
    {
        var layer = new Gelu<double>(1, approximation) { IsTraining = false };
        double[] y = new double[1];
        layer.Forward([x], y, 1, 1);
        Assert.True(Math.Abs(y[0] - expected) <= 4e-16 * (1 + x * x) * Math.Abs(expected), $"GELU({x}) = {y[0]:R}, expected {expected:R}");
    }

    /// <summary>erfc at exactly representable points, from 30-digit references.</summary>
    [Theory]
    [InlineData(0.0, 1.0)]
    [InlineData(0.1, 0.8875370839817151078)]
    [InlineData(0.5, 0.47950012218695346232)]
    [InlineData(1.0, 0.15729920705028513066)]
    [InlineData(3.0, 2.2090496998585441373e-5)]
    [InlineData(6.0, 2.1519736712498913117e-17)]
    [InlineData(10.0, 2.088487583762544757e-45)]
    [InlineData(15.0, 7.2129941724512066666e-100)]
    [InlineData(26.0, 5.6631924088561428465e-296)]
    [InlineData(-1.0, 1.8427007929497148693)]
    [InlineData(-3.5, 1.9999992569016276586)]
    public void Erfc_MatchesReferenceValues(double z, double expected) =>
        Assert.True(Math.Abs(ErrorFunction.Erfc(z) - expected) <= 1e-15 * expected, $"erfc({z}) = {ErrorFunction.Erfc(z):R}, expected {expected:R}");

    [Fact]
    public void Erfc_AgreesWithMathNet_OnAFineGrid_AndHandlesTheEnds()
    {
        // MathNet.Numerics (Boost's rational approximations) is an independent reference, accurate to about 2e-15 up
        // to z = 5.5 (at z = 4.071 it is off by 1.7e-15 against a 40-digit value, this implementation by 2e-16).
        // Beyond, MathNet drifts (7e-15 by z = 10, 5e-14 near z = 26), so the tail is checked by the reference values above.
        double worst = 0;
        for (int i = -700; i <= 550; i++)
        {
            double z = i / 100.0 + 0.001;
            double reference = MathNet.Numerics.SpecialFunctions.Erfc(z);
            worst = Math.Max(worst, Math.Abs(ErrorFunction.Erfc(z) - reference) / reference);
        }
        Assert.True(worst <= 2.5e-15, $"worst relative difference {worst:E2}");
        Assert.Equal(2.0, ErrorFunction.Erfc(double.NegativeInfinity));
        Assert.Equal(0.0, ErrorFunction.Erfc(double.PositiveInfinity));
        Assert.Equal(0.0, ErrorFunction.Erfc(40));
        Assert.True(double.IsNaN(ErrorFunction.Erfc(double.NaN)));
    }

    [Fact]
    public void Derivative_AtZero_IsOneHalf_InBothForms()
    {
        Assert.Equal(0.5, Gelu<double>.Derivative(0, tanh: false), 15);
        Assert.Equal(0.5, Gelu<double>.Derivative(0, tanh: true), 15);
    }

    // ---------------------------------------------------------------- against independent references
    //
    // Every test below compares with values that do not come from Gelu<T>.Value, Gelu<T>.Derivative, ErrorFunction or
    // GeluKernels: the 60-digit table GeluReference (Fixtures/make_gelu_reference.py, mpmath), MathNet.Numerics' erfc,
    // and the tanh form written here as x·σ(2u) with Math.Exp. The scalar formulas, which the layer runs on machines
    // without AVX-512F, are checked on every machine; the AVX-512 kernels are checked where the machine has them, and
    // those tests are reported as skipped, with the reason, elsewhere. The layer tests run whichever path the machine
    // uses, with that path's tolerance, and say which one ran.

    private const double SqrtHalf = 0.70710678118654752440, InvSqrtTwoPi = 0.39894228040143267794;
    private const double SqrtTwoOverPi = 0.79788456080286535588, TanhCubic = 0.044715;

    /// <summary>
    /// MathNet's relative error in erfc(z), bounded from a measurement against 40-digit mpmath values at 40,001 points of
    /// [−8, 12]: at most 1.3e-16 for z &lt; 0, 4.7e-16 below 2, 2.0e-15 below 5, 3.7e-15 below 8, 1.4e-14 below 12.
    /// </summary>
    private static double MathNetErfcError(double z) =>
        z < 0 ? 2e-16 : z < 2 ? 6e-16 : z < 5 ? 2.5e-15 : z < 8 ? 5e-15 : 2e-14;

    /// <summary>
    /// The exact form from MathNet's erfc: x·½·erfc(−x/√2) and GELU′ = ½·erfc(−x/√2) + x·φ(x), with an error bound
    /// for each: MathNet's relative error in erfc, plus the conditioning of erfc in the negative tail with respect to
    /// the rounding of x/√2 (relative 2z·δz ≈ x²·2⁻⁵³, twice: the product and the constant 1/√2; the rounding of x²/2 in
    /// φ costs less), plus three roundings of the products and the sum, applied to the terms of GELU′, which cancel
    /// near its zero (x ≈ −0.75).
    /// </summary>
    private static (double Value, double Derivative, double ValueError, double DerivativeError) ExactByMathNet(double x)
    {
        double erfc = MathNet.Numerics.SpecialFunctions.Erfc(-x * SqrtHalf), gauss = x * InvSqrtTwoPi * Math.Exp(-0.5 * x * x);
        double e = MathNetErfcError(-x * SqrtHalf) + 2.2e-16 * x * x + 3.3e-16;
        double value = 0.5 * x * erfc, derivative = 0.5 * erfc + gauss;
        return (value, derivative, e * Math.Abs(value), e * (0.5 * erfc + Math.Abs(gauss)));
    }

    /// <summary>
    /// The tanh form as x·σ(2u) with σ(v) = 1/(1 + e^−v), and its derivative σ + 2x·σ·(1 − σ)·u′, with (1 − σ) from
    /// e^{2u}, so neither tail cancels; error bounds of 2e-15 of the value and of the derivative's terms (a few roundings
    /// of exp and the products; the rounding of u is the same as in the library's formulas, so it is not counted here).
    /// </summary>
    private static (double Value, double Derivative, double ValueError, double DerivativeError) TanhBySigmoid(double x)
    {
        double u = SqrtTwoOverPi * (x + TanhCubic * x * x * x);
        double sigma = 1 / (1 + Math.Exp(-2 * u)), complement = 1 / (1 + Math.Exp(2 * u));
        double slope = 2 * x * sigma * complement * SqrtTwoOverPi * (1 + 3 * TanhCubic * x * x);
        double value = x * sigma, derivative = sigma + slope;
        return (value, derivative, 2e-15 * Math.Abs(value), 2e-15 * (sigma + Math.Abs(slope)));
    }

    /// <summary>The reference of the form: MathNet for the exact form, the sigmoid form for the tanh form.</summary>
    private static (double Value, double Derivative, double ValueError, double DerivativeError) Reference(bool tanh, double x) =>
        tanh ? TanhBySigmoid(x) : ExactByMathNet(x);

    /// <summary>
    /// u = √(2/π)(x + 0.044715x³). Evaluated in double, u carries up to about five roundings (three products, the
    /// constants), δu ≲ 5.5e-16·|u|, and the tanh form's value x·σ(2u) moves by 2δu relative in the negative tail: the
    /// tolerances allow 1e-15·|u| for it (4e-13 at x = −22).
    /// </summary>
    private static double U(double x) => SqrtTwoOverPi * (x + TanhCubic * x * x * x);

    /// <summary>
    /// Relative and absolute tolerances of a GELU path, for the value and the derivative at x. <c>Kernel</c>: the AVX-512
    /// kernels (documented accuracy: exact form 3.9e-16 for the value, 1.6e-15 for the derivative away from its zero;
    /// tanh form 2e-15 growing with |u| from the rounding of u). <c>Scalar</c>: Gelu.Value/Derivative, whose exact form
    /// rounds x/√2 (relative 2.2e-16·x² in the negative tail, see <see cref="ExactByMathNet"/>) and whose tanh form
    /// computes 1 + tanh u, which cancels for x below about −5 (absolute error about 2⁻⁵³ of the terms, so the
    /// value's is 2⁻⁵³·|x|/2). Both paths compute the tanh form's exponential or tanh in double, which overflows or
    /// saturates for −2u above 709.8 (x below about −21.1): σ and the value are then 0 where the true value is a
    /// subnormal double of at most 2e-307, hence the absolute 1e-306.
    /// </summary>
    private static (double Rel, double Abs, double DerivRel, double DerivAbs) PathTolerance(bool kernel, bool tanh, double x)
    {
        double uTerm = 1e-15 * Math.Abs(U(x));
        if (kernel)
            return tanh ? (2e-15 + uTerm, 1e-306, 2e-15 + uTerm, 1e-16) : (1e-15, 1e-320, 2e-15, 1e-16);
        if (!tanh) return (1e-15 + 2.2e-16 * x * x, 1e-320, 2e-15 + 2.2e-16 * x * x, 1e-16);
        // 1 + tanh u and 1 − tanh² u each carry an absolute error of about 2⁻⁵³; u′·x grows like 0.107·|x|³.
        double slope = Math.Abs(x) * SqrtTwoOverPi * (1 + 3 * TanhCubic * x * x);
        return (2e-15 + uTerm, 1e-306 + 3e-16 * Math.Abs(x), 2e-15 + uTerm, 3e-16 * (1 + slope));
    }

    /// <summary>Collects |actual − reference| / (rel·|reference| + abs) over many points; fails naming the worst point.</summary>
    private sealed class Worst(string what)
    {
        private double _ratio = -1;
        private string _where = "";
        private int _count;

        public void Add(double x, double actual, double reference, double rel, double abs)
        {
            _count++;
            double bound = rel * Math.Abs(reference) + abs;
            // A NaN or infinity on either side fails unless both are the same.
            double ratio = double.IsFinite(actual) && double.IsFinite(reference) ? Math.Abs(actual - reference) / bound
                : actual.Equals(reference) ? 0 : double.PositiveInfinity;
            if (ratio > _ratio)
            {
                _ratio = ratio;
                double relative = reference == 0 ? double.NaN : Math.Abs(actual - reference) / Math.Abs(reference);
                _where = $"x = {x:R}: {actual:R}, reference {reference:R} (relative {relative:E2}, tolerance {rel:E2} relative + {abs:E2})";
            }
        }

        /// <summary>Asserts that every point was within its tolerance; returns a line for the log.</summary>
        public string Check()
        {
            Assert.True(_count > 0, $"{what}: no points");
            Assert.True(_ratio <= 1, $"{what}: {_count} points, worst {_ratio:F2}× its tolerance at {_where}");
            return $"{what}: {_count} points, worst {_ratio:F3}× the tolerance, at {_where}";
        }
    }

    /// <summary>
    /// The float exact-form kernel's bound (<c>GeluKernels.ExactSingle</c>, which computes in float), in float ulps
    /// (2⁻²⁴ relative) of the value and of the sum of the magnitudes of GELU′'s two terms, ½·erfc and |x|·φ (they cancel
    /// near x ≈ −0.75): the exponential (≤ 1.4 ulp: its fit and float Horner, by benchmarks/python/gelu_float_coefficients.py),
    /// erfcx (≤ 1.6), the rounding of z = |x|/√2 twice (≤ ½ ulp each, carried at most once since |z·erfcx′/erfcx| ≤ 1),
    /// x²/2 none (split exactly), and the products and sums after (½ ulp each, three on either path): 6 ulps.
    /// Plus eight float subnormal steps (1.1e-44) absolute, where results fall below the normal range.
    /// </summary>
    private const double SingleKernelUlps = 6, SingleKernelAbs = 8 * 1.401298464324817e-45;

    /// <summary>
    /// One float result and its ∂x against the reference, with the bound of the path that computed them: the float
    /// exact-form kernel (<see cref="SingleKernelUlps"/>), or a double path rounded once (its tolerance plus half a float
    /// ulp). ∂x = ∂y·GELU′ with GELU′ kept as a float from the forward pass, so ∂x also carries |∂y| times GELU′'s own bound
    /// (half a float ulp of it on the double paths), then half an ulp for the product.
    /// </summary>
    private static void AddFloat(Worst worst, bool kernel, bool tanh, float x, float y, float gy, float gx)
    {
        var r = Reference(tanh, x);
        double g = gy * r.Derivative;
        if (kernel && !tanh)
        {
            double ulp = SingleKernelUlps * Math.Pow(2, -24);
            double terms = 0.5 * MathNet.Numerics.SpecialFunctions.Erfc(-x * SqrtHalf) + Math.Abs(x) * InvSqrtTwoPi * Math.Exp(-0.5 * (double)x * x);
            worst.Add(x, y, r.Value, ulp, SingleKernelAbs + r.ValueError);
            worst.Add(x, gx, g, 0, Math.Abs(gy) * (ulp * terms + SingleKernelAbs + r.DerivativeError) + HalfFloatUlp(g));
            return;
        }
        var t = PathTolerance(kernel, tanh, x);
        worst.Add(x, y, r.Value, t.Rel, t.Abs + r.ValueError + HalfFloatUlp(r.Value));
        worst.Add(x, gx, g, t.DerivRel, Math.Abs(gy) * (t.DerivAbs + r.DerivativeError + HalfFloatUlp(r.Derivative)) + HalfFloatUlp(g));
    }

    /// <summary>Half the spacing of floats at |v| (the spacing above the float nearest to |v|).</summary>
    private static double HalfFloatUlp(double v)
    {
        float f = (float)Math.Abs(v);
        return float.IsInfinity(f) ? double.PositiveInfinity : 0.5 * ((double)MathF.BitIncrement(f) - f);
    }

    /// <summary>A dense grid over [from, to] at non-round points.</summary>
    private static double[] Grid(double from, double to, int count) =>
        Enumerable.Range(0, count).Select(i => from + (to - from) * (i + 0.3183) / count).ToArray();

    private static (double[] Value, double[] Derivative) TableFor(bool tanh) =>
        tanh ? (GeluReference.Tanh, GeluReference.TanhDerivative) : (GeluReference.Exact, GeluReference.ExactDerivative);

    /// <summary>The table itself is what it claims: it agrees with MathNet and the sigmoid form where those are accurate.</summary>
    [Fact]
    public void ReferenceTable_AgreesWithMathNet_AndTheSigmoidForm()
    {
        Assert.Equal(GeluReference.X.Length, GeluReference.Exact.Length);
        Assert.Equal(GeluReference.X.Length, GeluReference.ExactDerivative.Length);
        Assert.Equal(GeluReference.X.Length, GeluReference.Tanh.Length);
        Assert.Equal(GeluReference.X.Length, GeluReference.TanhDerivative.Length);
        Assert.Equal(GeluReference.Z.Length, GeluReference.Erfc.Length);
        var exact = new Worst("table vs MathNet, exact form");
        var tanh = new Worst("table vs sigmoid form, tanh form");
        foreach (double x in GeluReference.X.Where(x => x >= -11))
        {
            int i = Array.IndexOf(GeluReference.X, x);
            var r = ExactByMathNet(x);
            exact.Add(x, r.Value, GeluReference.Exact[i], 0, r.ValueError + 1e-320);
            exact.Add(x, r.Derivative, GeluReference.ExactDerivative[i], 0, r.DerivativeError + 1e-320);
            // The sigmoid form rounds u as the library does; the table does not, so the conditioning in u counts.
            var t = TanhBySigmoid(x);
            double uTerm = 1e-15 * Math.Abs(U(x));
            tanh.Add(x, t.Value, GeluReference.Tanh[i], uTerm, t.ValueError + 1e-306);
            tanh.Add(x, t.Derivative, GeluReference.TanhDerivative[i], uTerm, t.DerivativeError + 1e-320);
        }
        log.WriteLine(exact.Check());
        log.WriteLine(tanh.Check());
    }

    /// <summary>
    /// The scalar formulas (the layer's path without AVX-512F) on every machine: against the 60-digit table over
    /// [−40, 40], and against MathNet (exact form, |x| ≤ 11, where MathNet's erfc is accurate) or the sigmoid form (tanh
    /// form) on a dense grid.
    /// </summary>
    [Theory]
    [InlineData(GeluApproximation.None)]
    [InlineData(GeluApproximation.Tanh)]
    public void ScalarFormulas_MatchTheTable_AndADenseGrid(GeluApproximation approximation)
    {
        bool tanh = approximation == GeluApproximation.Tanh;
        var (values, derivatives) = TableFor(tanh);
        var table = new Worst($"scalar {approximation} vs the 60-digit table");
        for (int i = 0; i < GeluReference.X.Length; i++)
        {
            double x = GeluReference.X[i];
            var t = PathTolerance(kernel: false, tanh, x);
            table.Add(x, Gelu<double>.Value(x, tanh), values[i], t.Rel, t.Abs);
            table.Add(x, Gelu<double>.Derivative(x, tanh), derivatives[i], t.DerivRel, t.DerivAbs);
        }
        log.WriteLine(table.Check());

        var dense = new Worst($"scalar {approximation} vs {(tanh ? "the sigmoid form" : "MathNet")} on a dense grid");
        foreach (double x in Grid(tanh ? -40 : -11, tanh ? 40 : 11, 80_001))
        {
            var t = PathTolerance(kernel: false, tanh, x);
            var r = Reference(tanh, x);
            dense.Add(x, Gelu<double>.Value(x, tanh), r.Value, t.Rel, t.Abs + r.ValueError);
            dense.Add(x, Gelu<double>.Derivative(x, tanh), r.Derivative, t.DerivRel, t.DerivAbs + r.DerivativeError);
        }
        log.WriteLine(dense.Check());
    }

    /// <summary>
    /// The AVX-512 kernels, called directly in double (so the check does not depend on which path the layer takes):
    /// against the 60-digit table over [−40, 40] with their documented accuracy, and against MathNet or the sigmoid form on
    /// a dense grid. Float kernels are covered by the float layer tests below.
    /// </summary>
    [Avx512Theory]
    [InlineData(GeluApproximation.None)]
    [InlineData(GeluApproximation.Tanh)]
    public unsafe void Kernels_MatchTheTable_AndADenseGrid(GeluApproximation approximation)
    {
        bool tanh = approximation == GeluApproximation.Tanh;
        double[] Run(double[] x, bool derivative)
        {
            double[] values = new double[x.Length], derivatives = new double[x.Length], alone = new double[x.Length];
            fixed (double* px = x, py = values, pd = derivatives, pa = alone)
            {
                GeluKernels.Forward(px, py, pd, x.Length, tanh);
                GeluKernels.Forward(px, pa, null, x.Length, tanh);
            }
            Assert.Equal(alone, values); // the value is the same whether the derivative is computed with it or not
            return derivative ? derivatives : values;
        }

        CheckTableAndGrid("AVX-512", approximation, kernel: true, x => (Run(x, false), Run(x, true)), gridPoints: 80_001);
    }

    /// <summary>
    /// The double layer, on whichever path this machine runs (said in the log), against the table and a dense grid,
    /// with that path's tolerance; the backward with ∂y = 1 gives GELU′.
    /// </summary>
    [Theory]
    [InlineData(GeluApproximation.None)]
    [InlineData(GeluApproximation.Tanh)]
    public void Layer_Double_MatchesTheTable_AndADenseGrid(GeluApproximation approximation)
    {
        bool kernel = GeluKernels.IsSupported;
        log.WriteLine(kernel ? "this machine has AVX-512F: the layer runs the vector kernels" : "no AVX-512F: the layer runs the scalar formulas");
        (double[] Y, double[] D) Run(double[] x)
        {
            var layer = new Gelu<double>(1, approximation);
            double[] y = new double[x.Length], gx = new double[x.Length];
            layer.Forward(x, y, x.Length, 1);
            layer.Backward(Enumerable.Repeat(1.0, x.Length).ToArray(), gx, x.Length, 1);
            return (y, gx);
        }

        CheckTableAndGrid("layer", approximation, kernel, Run, gridPoints: 160_001);
    }

    /// <summary>
    /// Values and derivatives from <paramref name="run"/> against the 60-digit table and against a dense grid (MathNet's erfc
    /// or the sigmoid form, with their own error added), with the tolerance of the path (kernel or scalar); both logged.
    /// </summary>
    private void CheckTableAndGrid(string what, GeluApproximation approximation, bool kernel, Func<double[], (double[] Y, double[] D)> run, int gridPoints)
    {
        bool tanh = approximation == GeluApproximation.Tanh;
        var (values, derivatives) = TableFor(tanh);
        var table = new Worst($"{what} {approximation} vs the 60-digit table");
        var (ty, td) = run(GeluReference.X);
        for (int i = 0; i < ty.Length; i++)
        {
            double x = GeluReference.X[i];
            var t = PathTolerance(kernel, tanh, x);
            table.Add(x, ty[i], values[i], t.Rel, t.Abs);
            table.Add(x, td[i], derivatives[i], t.DerivRel, t.DerivAbs);
        }
        log.WriteLine(table.Check());

        double[] grid = Grid(tanh ? -40 : -11, tanh ? 40 : 11, gridPoints);
        var dense = new Worst($"{what} {approximation} vs {(tanh ? "the sigmoid form" : "MathNet")} on a dense grid");
        var (gy, gd) = run(grid);
        for (int i = 0; i < grid.Length; i++)
        {
            double x = grid[i];
            var t = PathTolerance(kernel, tanh, x);
            var r = Reference(tanh, x);
            dense.Add(x, gy[i], r.Value, t.Rel, t.Abs + r.ValueError);
            dense.Add(x, gd[i], r.Derivative, t.DerivRel, t.DerivAbs + r.DerivativeError);
        }
        log.WriteLine(dense.Check());
    }

    /// <summary>
    /// The float layer's values and ∂x = ∂y·GELU′(x) (GELU′ kept as a float from the forward pass) are within the bound of
    /// the path that computes them (<see cref="AddFloat"/>: the float exact-form kernel, or a double path rounded once),
    /// plus the reference's error: checked on a dense grid over
    /// [−15, 15] (49 blocks, so the parallel split runs too) with random float ∂y. The special values follow the
    /// formulas: ±0 gives ±0 with GELU′(±0) = ½, NaN gives NaN, +∞ gives +∞ and −∞ gives NaN (−∞·0), as documented.
    /// </summary>
    [Theory]
    [InlineData(GeluApproximation.None)]
    [InlineData(GeluApproximation.Tanh)]
    public void Layer_Float_IsWithinItsBoundOfTheReference_OnADenseGrid_AndAtTheEnds(GeluApproximation approximation)
    {
        bool tanh = approximation == GeluApproximation.Tanh, kernel = GeluKernels.IsSupported;
        const int n = 200_000;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = -15f + 30f * (i + 0.3183f) / n;
        float[] gy = Compare.Cast<float>(Compare.Random(n, 17));
        var layer = new Gelu<float>(1, approximation);
        float[] y = new float[n], gx = new float[n];
        layer.Forward(x, y, n, 1);
        layer.Backward(gy, gx, n, 1);
        var worst = new Worst($"float layer {approximation} ({(kernel ? "AVX-512" : "scalar")}) vs {(tanh ? "the sigmoid form" : "MathNet")}");
        for (int i = 0; i < n; i++) AddFloat(worst, kernel, tanh, x[i], y[i], gy[i], gx[i]);
        log.WriteLine(worst.Check());
        // Evaluation mode computes no derivative; the values are the same.
        float[] ye = new float[n];
        layer.IsTraining = false;
        layer.Forward(x, ye, n, 1);
        Assert.Equal(y, ye);

        float[] ends = [0f, -0f, float.NaN, float.PositiveInfinity, float.NegativeInfinity, 1e-40f, -20f];
        float[] ey = new float[ends.Length], eg = new float[ends.Length];
        var endLayer = new Gelu<float>(ends.Length, approximation);
        endLayer.Forward(ends, ey, 1, 1);
        endLayer.Backward(Enumerable.Repeat(1f, ends.Length).ToArray(), eg, 1, 1);
        Assert.Equal(0f, ey[0]);
        Assert.False(float.IsNegative(ey[0]), "GELU(+0) is +0");
        Assert.True(ey[1] == 0 && float.IsNegative(ey[1]), $"GELU(−0) is −0, got {ey[1]:R}");
        Assert.Equal(0.5f, eg[0]);
        Assert.Equal(0.5f, eg[1]);
        Assert.True(float.IsNaN(ey[2]) && float.IsNaN(eg[2]), "NaN in gives NaN out");
        Assert.Equal(float.PositiveInfinity, ey[3]);
        Assert.True(float.IsNaN(ey[4]), $"GELU(−∞) is NaN (−∞·0), got {ey[4]:R}");
        Assert.Equal(5e-41f, ey[5]); // x/2 for tiny x, a float subnormal
        Assert.Equal(0.5f, eg[5]);
        Assert.True(ey[6] == 0 && float.IsNegative(ey[6]), $"GELU(−20) underflows to −0 in float, got {ey[6]:R}");
    }

    /// <summary>
    /// The AVX-512 erfc (used by the exact form) against MathNet on a dense grid over [−6, 5.5], where MathNet is accurate
    /// to 2e-15, and against the 60-digit erfc table from −6 up to 27.2, where erfc underflows (subnormal results are
    /// compared absolutely); with the ends, ±0 and NaN.
    /// </summary>
    [Avx512Fact]
    public void VectorErfc_MatchesMathNet_AndTheTable()
    {
        const int n = 400_001;
        double[] z = Grid(-6, 5.5, n), result = new double[n];
        GeluKernels.Erfc(z, result);
        var dense = new Worst("AVX-512 erfc vs MathNet");
        for (int i = 0; i < n; i++)
            dense.Add(z[i], result[i], MathNet.Numerics.SpecialFunctions.Erfc(z[i]), 1e-15 + MathNetErfcError(z[i]), 0);
        log.WriteLine(dense.Check());

        double[] tableResult = new double[GeluReference.Z.Length];
        GeluKernels.Erfc(GeluReference.Z, tableResult);
        var table = new Worst("AVX-512 erfc vs the 60-digit table");
        for (int i = 0; i < tableResult.Length; i++)
            table.Add(GeluReference.Z[i], tableResult[i], GeluReference.Erfc[i], 1.5e-15, 1e-322);
        log.WriteLine(table.Check());

        double[] ends = [0.0, -0.0, 28, 1e300, double.PositiveInfinity, -30, double.NegativeInfinity, double.NaN], endResults = new double[ends.Length];
        GeluKernels.Erfc(ends, endResults);
        Assert.Equal([1, 1, 0, 0, 0, 2, 2], endResults[..7]);
        Assert.True(double.IsNaN(endResults[7]));
    }

    /// <summary>The scalar erfc (the exact form's, on every machine) against the 60-digit erfc table, tail included.</summary>
    [Fact]
    public void ScalarErfc_MatchesTheTable()
    {
        var table = new Worst("scalar erfc vs the 60-digit table");
        for (int i = 0; i < GeluReference.Z.Length; i++)
            table.Add(GeluReference.Z[i], ErrorFunction.Erfc(GeluReference.Z[i]), GeluReference.Erfc[i], 1e-15, 1e-322);
        log.WriteLine(table.Check());
    }

    [Fact]
    public void LargeInputs_SplitIntoBlocks_AreEachWithinTheirBound()
    {
        // More than one block of 4096 elements, so the parallel path runs; every value and ∂x within the bound of its path.
        const int batch = 3, length = 701, h = 5;
        bool kernel = GeluKernels.IsSupported;
        var layer = new Gelu<float>(h);
        float[] x = Compare.Cast<float>(Compare.Random(batch * length * h, 9, scale: 3));
        float[] y = new float[x.Length], gx = new float[x.Length], gy = Compare.Cast<float>(Compare.Random(x.Length, 10));
        layer.Forward(x, y, batch, length);
        layer.Backward(gy, gx, batch, length);
        var worst = new Worst("float layer in blocks vs MathNet");
        for (int i = 0; i < x.Length; i++) AddFloat(worst, kernel, tanh: false, x[i], y[i], gy[i], gx[i]);
        log.WriteLine(worst.Check());
    }

    [Fact]
    public void BadArguments_Throw()
    {
        Assert.Equal("features", Assert.Throws<ArgumentOutOfRangeException>(() => new Gelu<double>(0)).ParamName);
        Assert.Equal("approximation", Assert.Throws<ArgumentOutOfRangeException>(() => new Gelu<double>(2, (GeluApproximation)7)).ParamName);
        var layer = new Gelu<double>(3);
        Assert.Equal("input", Assert.Throws<ArgumentException>(() => layer.Forward(new double[5], new double[6], 1, 2)).ParamName);
        Assert.Equal("output", Assert.Throws<ArgumentException>(() => layer.Forward(new double[6], new double[5], 1, 2)).ParamName);
        Assert.Throws<InvalidOperationException>(() => layer.Backward(new double[6], new double[6], 1, 2));
        layer.Forward(new double[6], new double[6], 1, 2);
        Assert.Throws<InvalidOperationException>(() => layer.Backward(new double[6], new double[6], 2, 1));
        Assert.Equal("gradOutput", Assert.Throws<ArgumentException>(() => layer.Backward(new double[5], new double[6], 1, 2)).ParamName);
        Assert.Equal("gradInput", Assert.Throws<ArgumentException>(() => layer.Backward(new double[6], new double[5], 1, 2)).ParamName);
    }

    [Fact]
    public void SteadyState_AllocatesNothing() =>
        GradientCheck.AllocatesNothingInSteadyState(new Gelu<float>(7), batch: 2, length: 3);
}

/// <summary>A fact that needs the AVX-512 GELU kernels: on a machine without AVX-512F it is reported as skipped, with the reason.</summary>
public sealed class Avx512FactAttribute : FactAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> when <see cref="GeluKernels.IsSupported"/> is false.</summary>
    public Avx512FactAttribute()
    {
        if (!GeluKernels.IsSupported) Skip = Avx512TheoryAttribute.Reason;
    }
}

/// <summary>A theory that needs the AVX-512 GELU kernels: on a machine without AVX-512F it is reported as skipped, with the reason.</summary>
public sealed class Avx512TheoryAttribute : TheoryAttribute
{
    internal const string Reason = "needs AVX-512F, which this machine lacks: the layer runs the scalar formulas here, and the other GELU tests check them";

    /// <summary>Sets <see cref="FactAttribute.Skip"/> when <see cref="GeluKernels.IsSupported"/> is false.</summary>
    public Avx512TheoryAttribute()
    {
        if (!GeluKernels.IsSupported) Skip = Reason;
    }
}
