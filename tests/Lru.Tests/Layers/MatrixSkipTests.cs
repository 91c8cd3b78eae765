using Lru.IO;
using Lru.Layers;
using Lru.Tests.Support;

namespace Lru.Tests.Layers;

/// <summary>The matrix-D option (LRU-pytorch's y = Re(C x) + D u) and its file layout.</summary>
public class MatrixSkipTests
{
    [Fact]
    public void Gradients_MatchFiniteDifferences()
    {
        var layer = new LruLayer<double>(new LruConfig(4, 5, RMin: 0.5, RMax: 0.95, MatrixD: true), seed: 2);
        Assert.Equal([4, 4], layer.D.Shape.ToArray());
        GradientCheck.Layer(layer, batch: 2, length: 6, seed: 3);
    }

    [Fact]
    public void Forward_EqualsElementwiseLayerPlusTheOffDiagonalPart_AndStepEqualsForward()
    {
        const int batch = 2, length = 9, h = 3, n = 4;
        var matrix = new LruLayer<double>(new LruConfig(h, n, MatrixD: true), seed: 1) { IsTraining = false };
        var diagonal = new LruLayer<double>(new LruConfig(h, n), seed: 1) { IsTraining = false };
        for (int p = 0; p < 7; p++) diagonal.Parameters[p].Assign(matrix.Parameters[p].Value);
        Array.Clear(diagonal.D.Values); diagonal.D.MarkModified();
        double[] u = Compare.Random(batch * length * h, 4), y = new double[u.Length], y0 = new double[u.Length];
        matrix.Forward(u, y, batch, length);
        diagonal.Forward(u, y0, batch, length);
        double[] expected = new double[u.Length];
        for (int r = 0; r < batch * length; r++)
            for (int i = 0; i < h; i++)
            {
                double s = y0[r * h + i];
                for (int j = 0; j < h; j++) s += matrix.D.Values[i * h + j] * u[r * h + j];
                expected[r * h + i] = s;
            }
        Compare.Close<double>(y, expected, 1e-12);

        var state = matrix.CreateState(batch);
        double[] ut = new double[batch * h], yt = new double[batch * h];
        for (int t = 0; t < length; t++)
        {
            for (int b = 0; b < batch; b++) u.AsSpan((b * length + t) * h, h).CopyTo(ut.AsSpan(b * h));
            matrix.Step(ut, yt, state);
            for (int b = 0; b < batch; b++)
                for (int i = 0; i < h; i++) Assert.Equal(y[(b * length + t) * h + i], yt[b * h + i], 1e-12);
        }
    }

    [Fact]
    public void PyTorchLayout_RoundTrips_AndElementwiseDBecomesDiagonal()
    {
        string path = Path.Combine(Path.GetTempPath(), $"lru-pt-{Guid.NewGuid():N}.safetensors");
        try
        {
            var layer = new LruLayer<float>(new LruConfig(3, 5), seed: 7) { IsTraining = false };
            LruLayerFile.SavePyTorchLayout(path, layer);
            var file = SafeTensorsFile.Read(path);
            Assert.True(LruLayerFile.IsPyTorchLayout(file));
            Assert.Equal([5, 3, 2], file.GetInfo("B").Shape);
            var loaded = LruLayerFile.LoadPyTorchLayout<float>(file);
            loaded.IsTraining = false;
            Assert.True(loaded.Config.MatrixD);
            float[] u = Compare.Cast<float>(Compare.Random(2 * 4 * 3, 1)), a = new float[u.Length], b = new float[u.Length];
            layer.Forward(u, a, 2, 4);
            loaded.Forward(u, b, 2, 4);
            Compare.Close<float>(b, a.Select(v => (double)v).ToArray(), 1e-6);
            Assert.Equal(layer.BIm.Values, loaded.BIm.Values);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
