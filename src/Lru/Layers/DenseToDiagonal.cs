using System.Numerics;
using MathNet.Numerics.LinearAlgebra;
using Complex = System.Numerics.Complex;

namespace Lru.Layers;

/// <summary>
/// Converts a dense real linear recurrence <c>h_t = A h_{t−1} + B u_t</c>, <c>y_t = C h_t + D ⊙ u_t</c>
/// into the equivalent complex-diagonal <see cref="LruLayer{T}"/> by eigendecomposition (MathNet.Numerics):
/// with <c>A = V Λ V⁻¹</c> and <c>x = V⁻¹ h</c>, <c>x_t = Λ x_{t−1} + (V⁻¹B) u_t</c> and
/// <c>y_t = Re((C V) x_t) + D ⊙ u_t</c> (the imaginary parts cancel because <c>h</c> is real).
/// </summary>
/// <remarks>
/// The layer keeps all N eigenvalues, so its state has N complex channels. Each eigenvalue <c>λ</c> is written in
/// the exponential parameterisation: <c>nu_log = log(−log|λ|)</c>, <c>theta_log = log(arg λ)</c> with the
/// argument taken in (0, 2π] (a positive real eigenvalue gets 2π), <c>gamma_log = 0</c>.
/// </remarks>
public static class DenseToDiagonal
{
    /// <summary>The largest condition number of the eigenvector matrix accepted (beyond it A is treated as not diagonalisable).</summary>
    public const double MaxConditionNumber = 1e8;

    /// <summary>Builds the LRU layer equivalent to the dense recurrence.</summary>
    /// <typeparam name="T"><see cref="float"/> or <see cref="double"/>.</typeparam>
    /// <param name="a">A, (N × N).</param>
    /// <param name="b">B, (N × H).</param>
    /// <param name="c">C, (H × N).</param>
    /// <param name="d">D, (H): the elementwise skip.</param>
    /// <returns>A layer whose outputs equal the dense recurrence's up to rounding.</returns>
    /// <exception cref="ArgumentException">The shapes do not fit, a value is not finite, A has spectral radius ≥ 1 or an eigenvalue 0, or A is not diagonalisable (the message gives the offending eigenvalue or the condition number).</exception>
    public static LruLayer<T> Convert<T>(double[,] a, double[,] b, double[,] c, double[] d) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(c);
        ArgumentNullException.ThrowIfNull(d);
        int n = a.GetLength(0), h = d.Length;
        if (n < 1 || a.GetLength(1) != n) throw new ArgumentException($"a must be square (N × N); it is {a.GetLength(0)} × {a.GetLength(1)}.", nameof(a));
        if (h < 1) throw new ArgumentException("d must have at least one element (H ≥ 1).", nameof(d));
        if (b.GetLength(0) != n || b.GetLength(1) != h) throw new ArgumentException($"b must be N × H = {n} × {h}; it is {b.GetLength(0)} × {b.GetLength(1)}.", nameof(b));
        if (c.GetLength(0) != h || c.GetLength(1) != n) throw new ArgumentException($"c must be H × N = {h} × {n}; it is {c.GetLength(0)} × {c.GetLength(1)}.", nameof(c));
        CheckFinite(a, nameof(a)); CheckFinite(b, nameof(b)); CheckFinite(c, nameof(c));
        foreach (double value in d) if (!double.IsFinite(value)) throw new ArgumentException($"d holds {value}; every value must be finite.", nameof(d));

        var matrix = Matrix<Complex>.Build.Dense(n, n, (i, j) => a[i, j]);
        var evd = matrix.Evd();
        MathNet.Numerics.LinearAlgebra.Vector<Complex> lambda = evd.EigenValues;
        Matrix<Complex> v = evd.EigenVectors;
        for (int j = 0; j < n; j++)
        {
            double modulus = lambda[j].Magnitude;
            if (modulus >= 1)
                throw new ArgumentException($"A has the eigenvalue {Format(lambda[j])} with |λ| = {modulus:G6} ≥ 1: its recurrence is not stable, and the LRU's parameterisation keeps |λ| < 1.", nameof(a));
            if (modulus == 0)
                throw new ArgumentException("A has the eigenvalue 0, which the exponential parameterisation cannot represent (|λ| = exp(−exp(ν)) > 0).", nameof(a));
        }
        double condition = v.ConditionNumber().Real;
        if (!(condition <= MaxConditionNumber))
            throw new ArgumentException($"A is not diagonalisable (the eigenvector matrix has condition number {condition:G3} > {MaxConditionNumber:G1}).", nameof(a));
        var vInverse = v.Inverse();
        double residual = (v * Matrix<Complex>.Build.DenseOfDiagonalVector(lambda) * vInverse - matrix).FrobeniusNorm();
        if (!(residual <= 1e-8 * Math.Max(1, matrix.FrobeniusNorm())))
            throw new ArgumentException($"A is not diagonalisable: V Λ V⁻¹ misses A by {residual:G3}.", nameof(a));

        var bTilde = vInverse * Matrix<Complex>.Build.Dense(n, h, (i, j) => b[i, j]);   // N × H
        var cTilde = Matrix<Complex>.Build.Dense(h, n, (i, j) => c[i, j]) * v;        // H × N

        var layer = new LruLayer<T>(new LruConfig(h, n));
        for (int j = 0; j < n; j++)
        {
            double phase = lambda[j].Phase;
            if (phase <= 0) phase += 2 * Math.PI;
            layer.NuLog.Values[j] = T.CreateChecked(Math.Log(-Math.Log(lambda[j].Magnitude)));
            layer.ThetaLog.Values[j] = T.CreateChecked(Math.Log(phase));
            layer.GammaLog.Values[j] = T.Zero;
            for (int i = 0; i < h; i++)
            {
                layer.BRe.Values[j * h + i] = T.CreateChecked(bTilde[j, i].Real);
                layer.BIm.Values[j * h + i] = T.CreateChecked(bTilde[j, i].Imaginary);
                layer.CRe.Values[i * n + j] = T.CreateChecked(cTilde[i, j].Real);
                layer.CIm.Values[i * n + j] = T.CreateChecked(cTilde[i, j].Imaginary);
            }
        }
        for (int i = 0; i < h; i++) layer.D.Values[i] = T.CreateChecked(d[i]);
        foreach (var p in layer.Parameters) p.MarkModified();
        return layer;
    }

    private static void CheckFinite(double[,] m, string name)
    {
        foreach (double v in m)
            if (!double.IsFinite(v)) throw new ArgumentException($"{name} holds {v}; every value must be finite.", name);
    }

    private static string Format(Complex z) => $"{z.Real:G6}{(z.Imaginary < 0 ? "−" : "+")}{Math.Abs(z.Imaginary):G6}i";
}
