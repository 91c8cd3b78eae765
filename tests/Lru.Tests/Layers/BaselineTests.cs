using Lru.Baselines;
using Lru.Layers;
using Lru.Tests.Support;

namespace Lru.Tests.Layers;

/// <summary>The benchmark baselines compute what they claim to.</summary>
public class BaselineTests
{
    [Fact]
    public void NaivePerStepLru_MatchesReference()
    {
        const int batch = 2, length = 30, h = 7, n = 9;
        var layer = new LruLayer<float>(new LruConfig(h, n), seed: 8);
        double[] u = Compare.Random(batch * length * h, 2);
        float[] y = new float[u.Length];
        NaiveLru.Forward(layer, Compare.Cast<float>(u), y, batch, length);
        double error = Compare.RelativeError<float>(y, ReferenceLru.Forward(layer, u, batch, length).Output);
        Assert.True(error <= 1e-4, $"naive per-step LRU differs from the reference by {error:E2}");
    }

    [Fact]
    public void NaiveRnn_MatchesDoubleRecurrence()
    {
        const int batch = 2, length = 10, h = 5, n = 6;
        var rnn = new NaiveRnn<float>(h, n, seed: 1);
        var (w, uw, v) = rnn.Weights;
        double[] u = Compare.Random(batch * length * h, 3);
        float[] y = new float[u.Length];
        rnn.Forward(Compare.Cast<float>(u), y, batch, length);
        Assert.All(y, v => Assert.True(float.IsFinite(v)));

        var expected = new double[u.Length];
        for (int b = 0; b < batch; b++)
        {
            var state = new double[n];
            for (int t = 0; t < length; t++)
            {
                int row = (b * length + t) * h;
                var next = new double[n];
                for (int i = 0; i < n; i++)
                {
                    double s = 0;
                    for (int j = 0; j < n; j++) s += w[i * n + j] * state[j];
                    for (int j = 0; j < h; j++) s += uw[i * h + j] * (double)(float)u[row + j];
                    next[i] = Math.Tanh(s);
                }
                state = next;
                for (int i = 0; i < h; i++)
                    for (int j = 0; j < n; j++) expected[row + i] += v[i * n + j] * state[j];
            }
        }
        Compare.Close<float>(y, expected, 1e-5);
    }

    [Fact]
    public void NaiveRnn_Backward_MatchesFiniteDifferences()
    {
        const int batch = 2, length = 5, h = 3, n = 4;
        var rnn = new NaiveRnn<double>(h, n, seed: 2);
        double[] u = Compare.Random(batch * length * h, 1), w = Compare.Random(batch * length * h, 2), y = new double[u.Length];
        double Loss()
        {
            rnn.Forward(u, y, batch, length);
            return GradientCheck.WeightedSum(y, w);
        }
        Loss();
        double[] gradU = new double[u.Length];
        rnn.Backward(w, gradU);
        var (wm, um, vm) = rnn.Weights;
        GradientCheck.Check(Loss, u, gradU, "u");
        GradientCheck.Check(Loss, wm, (double[])rnn.GradW.Clone(), "W");
        GradientCheck.Check(Loss, um, (double[])rnn.GradU.Clone(), "U");
        GradientCheck.Check(Loss, vm, (double[])rnn.GradV.Clone(), "V");
    }
}
