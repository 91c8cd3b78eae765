using System.Numerics;
using Lru.Layers;

namespace Lru.Tests.Support;

/// <summary>
/// The plain reference LRU of LRU-MATH §1: double precision, System.Numerics.Complex, scalar loops,
/// one time step after another. Every fast path is checked against it.
/// </summary>
internal static class ReferenceLru
{
    /// <summary>λ_j = exp(−exp(nu_log_j) + i·exp(theta_log_j)) in double.</summary>
    public static Complex[] Lambda<T>(LruLayer<T> layer) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var lambda = new Complex[layer.StateSize];
        for (int j = 0; j < lambda.Length; j++)
            lambda[j] = Complex.Exp(new Complex(-Math.Exp(double.CreateChecked(layer.NuLog.Value[j])), Math.Exp(double.CreateChecked(layer.ThetaLog.Value[j]))));
        return lambda;
    }

    /// <summary>y (B, L, H) for input u (B, L, H); x0 is (B, N) complex or null; returns the final states too.</summary>
    public static (double[] Output, Complex[,] FinalState) Forward<T>(LruLayer<T> layer, double[] u, int batch, int length, Complex[,]? x0 = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int h = layer.Hidden, n = layer.StateSize;
        Complex[] lambda = Lambda(layer);
        var y = new double[batch * length * h];
        var final = new Complex[batch, n];
        double P(Parameter<T> p, int i) => double.CreateChecked(p.Value[i]);
        for (int b = 0; b < batch; b++)
        {
            var x = new Complex[n];
            for (int j = 0; j < n; j++) x[j] = x0 is null ? Complex.Zero : x0[b, j];
            for (int t = 0; t < length; t++)
            {
                int row = (b * length + t) * h;
                for (int j = 0; j < n; j++)
                {
                    Complex bu = Complex.Zero;
                    for (int i = 0; i < h; i++)
                        bu += new Complex(P(layer.BRe, j * h + i), P(layer.BIm, j * h + i)) * u[row + i];
                    x[j] = lambda[j] * x[j] + Math.Exp(P(layer.GammaLog, j)) * bu;
                }
                for (int i = 0; i < h; i++)
                {
                    double s = P(layer.D, i) * u[row + i];
                    for (int j = 0; j < n; j++)
                        s += (new Complex(P(layer.CRe, i * n + j), P(layer.CIm, i * n + j)) * x[j]).Real;
                    y[row + i] = s;
                }
            }
            for (int j = 0; j < n; j++) final[b, j] = x[j];
        }
        return (y, final);
    }

    /// <summary>The plain scan x_t = λ x_{t-1} + b_t over a (B, L, 2N) [re | im] buffer, in double.</summary>
    public static double[] Scan(double[] lamRe, double[] lamIm, double[] input, int batch, int length, double[]? x0, bool reverse)
    {
        int n = lamRe.Length;
        var output = new double[input.Length];
        for (int b = 0; b < batch; b++)
        {
            for (int j = 0; j < n; j++)
            {
                Complex lambda = new(lamRe[j], lamIm[j]);
                Complex x = x0 is null ? Complex.Zero : new Complex(x0[b * 2 * n + j], x0[b * 2 * n + n + j]);
                for (int s = 0; s < length; s++)
                {
                    int t = reverse ? length - 1 - s : s;
                    int row = (b * length + t) * 2 * n;
                    x = lambda * x + new Complex(input[row + j], input[row + n + j]);
                    output[row + j] = x.Real;
                    output[row + n + j] = x.Imaginary;
                }
            }
        }
        return output;
    }
}
