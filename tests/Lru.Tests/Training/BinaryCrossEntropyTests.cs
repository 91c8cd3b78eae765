using Lru.Training;
using Lru.Tests.Support;

namespace Lru.Tests.Training;

public class BinaryCrossEntropyTests
{
    [Fact]
    public void LossAndGradient_MatchTheFormula_AndFiniteDifferences()
    {
        const int rows = 4, outputs = 3;
        double[] z = Compare.Random(rows * outputs, 1, scale: 3);
        double[] y = [1, 0, 1, 0, 0, 1, 1, 1, 0, 0.5, 0, 1];
        bool[] mask = [true, false, true, true];
        double[] grad = new double[z.Length];
        var result = BinaryCrossEntropy.Compute<double>(z, y, grad, rows, outputs, mask);

        double expected = 0;
        int correct = 0;
        for (int r = 0; r < rows; r++)
        {
            if (!mask[r]) continue;
            for (int o = 0; o < outputs; o++)
            {
                int i = r * outputs + o;
                double p = 1 / (1 + Math.Exp(-z[i]));
                expected -= y[i] * Math.Log(p) + (1 - y[i]) * Math.Log(1 - p);
                if ((z[i] > 0) == (y[i] > 0.5)) correct++;
            }
        }
        Assert.Equal(expected / 9, result.Loss, 1e-12);
        Assert.Equal(9, result.Count);
        Assert.Equal(correct, result.Correct);
        Assert.All(grad.AsSpan(3, 3).ToArray(), g => Assert.Equal(0, g));
        GradientCheck.Check(() => BinaryCrossEntropy.Compute<double>(z, y, default, rows, outputs, mask).Loss, z, grad, "logits");
    }

    [Fact]
    public void IsStable_ForHugeLogits_AndRefusesBadTargets()
    {
        double[] z = [1000, -1000], y = [1, 0], g = new double[2];
        var result = BinaryCrossEntropy.Compute<double>(z, y, g, 1, 2);
        Assert.Equal(0, result.Loss, 1e-12);
        Assert.Equal(2, result.Correct);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => BinaryCrossEntropy.Compute<double>(z, [2.0, 0], g, 1, 2));
        Assert.Equal("targets", e.ParamName);
    }
}
