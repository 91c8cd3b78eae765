using Lru.Layers;

namespace Lru.Baselines;

/// <summary>
/// The LRU computed the naive way: one time step after another, scalar complex arithmetic in
/// float, no GEMM and no SIMD. A baseline for benchmarks; the tests check it against the
/// double-precision reference too.
/// </summary>
internal static class NaiveLru
{
    /// <summary>y (B, L, H) from u (B, L, H) with the parameters of <paramref name="layer"/>, from a zero state.</summary>
    public static void Forward(LruLayer<float> layer, ReadOnlySpan<float> input, Span<float> output, int batch, int length)
    {
        int h = layer.Hidden, n = layer.StateSize;
        Guard.Length(input.Length, nameof(input), "batch, length, H", batch, length, h);
        Guard.Length(output.Length, nameof(output), "batch, length, H", batch, length, h);
        float[] lamRe = new float[n], lamIm = new float[n], gamma = new float[n];
        layer.ComputeLambda(lamRe, lamIm);
        for (int j = 0; j < n; j++) gamma[j] = MathF.Exp(layer.GammaLog.Value[j]);
        float[] bRe = layer.BRe.Values, bIm = layer.BIm.Values, cRe = layer.CRe.Values, cIm = layer.CIm.Values, d = layer.D.Values;
        float[] xRe = new float[n], xIm = new float[n];
        for (int b = 0; b < batch; b++)
        {
            Array.Clear(xRe);
            Array.Clear(xIm);
            for (int t = 0; t < length; t++)
            {
                int row = (b * length + t) * h;
                for (int j = 0; j < n; j++)
                {
                    float buRe = 0, buIm = 0;
                    for (int i = 0; i < h; i++)
                    {
                        buRe += bRe[j * h + i] * input[row + i];
                        buIm += bIm[j * h + i] * input[row + i];
                    }
                    float re = lamRe[j] * xRe[j] - lamIm[j] * xIm[j] + gamma[j] * buRe;
                    float im = lamRe[j] * xIm[j] + lamIm[j] * xRe[j] + gamma[j] * buIm;
                    xRe[j] = re;
                    xIm[j] = im;
                }
                for (int i = 0; i < h; i++)
                {
                    float s = d[i] * input[row + i];
                    for (int j = 0; j < n; j++) s += cRe[i * n + j] * xRe[j] - cIm[i * n + j] * xIm[j];
                    output[row + i] = s;
                }
            }
        }
    }
}
