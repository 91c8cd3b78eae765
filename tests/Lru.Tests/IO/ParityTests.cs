using System.Numerics;
using Lru.IO;
using Lru.Layers;
using Lru.Models;
using Lru.Tests.Support;

namespace Lru.Tests.IO;

/// <summary>
/// Forward values and every gradient against PyTorch 1.13 autograd in float64 (fixtures written by
/// Fixtures/make_fixtures.py and committed; the suite never runs Python).
/// </summary>
public class ParityTests
{
    private static SafeTensorsFile Fixture(string name) => SafeTensorsFile.Read(Path.Combine(AppContext.BaseDirectory, "Fixtures", name + ".safetensors"));

    private static int Meta(SafeTensorsFile f, string key) => int.Parse(f.Metadata[key], System.Globalization.CultureInfo.InvariantCulture);

    private static void Load<T>(SafeTensorsFile f, IEnumerable<(string Name, Parameter<T> Parameter)> parameters) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int count = 0;
        foreach (var (name, p) in parameters)
        {
            double[] values = f.ReadFloat64("param." + name);
            Assert.Equal(p.Values.Length, values.Length);
            for (int i = 0; i < values.Length; i++) p.Values[i] = T.CreateChecked(values[i]);
            p.ZeroGradient();
            p.MarkModified();
            count++;
        }
        Assert.Equal(f.Tensors.Count(t => t.Name.StartsWith("param.", StringComparison.Ordinal)), count);
    }

    private static void Check<T>(SafeTensorsFile f, ReadOnlySpan<T> output, ReadOnlySpan<T> gradInput, IEnumerable<(string Name, Parameter<T> Parameter)> parameters, double tolerance)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Compare.Close(output, f.ReadFloat64("output"), tolerance, "output");
        Compare.Close(gradInput, f.ReadFloat64("grad.input"), tolerance, "grad.input");
        foreach (var (name, p) in parameters)
            Compare.Close<T>(p.GradientArray, f.ReadFloat64("grad." + name), tolerance, "grad." + name);
    }

    public static TheoryData<string, double> Precisions => new() { { "float", 1e-4 }, { "double", 1e-10 } };

    private static void RunLayer<T>(string fixture, Func<int, int, Module<T>> make, double tolerance) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var f = Fixture(fixture);
        int batch = Meta(f, "batch"), length = Meta(f, "length");
        var layer = make(Meta(f, "hidden"), Meta(f, "state"));
        Load(f, layer.NamedParameters());
        T[] u = f.ReadFloat64("input").Select(T.CreateChecked).ToArray();
        T[] w = f.ReadFloat64("loss_weights").Select(T.CreateChecked).ToArray();
        T[] y = new T[u.Length], gradU = new T[u.Length];
        layer.IsTraining = true;
        layer.Forward(u, y, batch, length);
        layer.Backward(w, gradU, batch, length);
        Check<T>(f, y, gradU, layer.NamedParameters(), tolerance);
    }

    [Theory, MemberData(nameof(Precisions))]
    public void LruLayer_MatchesPyTorch(string precision, double tolerance)
    {
        if (precision == "float") RunLayer<float>("lru_layer", (h, n) => new LruLayer<float>(new LruConfig(h, n)), tolerance);
        else RunLayer<double>("lru_layer", (h, n) => new LruLayer<double>(new LruConfig(h, n)), tolerance);
    }

    [Theory, MemberData(nameof(Precisions))]
    public void ForwardAndReversedLru_MatchPyTorch(string precision, double tolerance)
    {
        if (precision == "float") RunLayer<float>("lru_bidirectional", (h, n) => new BidirectionalLru<float>(new LruConfig(h, n)), tolerance);
        else RunLayer<double>("lru_bidirectional", (h, n) => new BidirectionalLru<double>(new LruConfig(h, n)), tolerance);
    }

    [Theory, MemberData(nameof(Precisions))]
    public void LruBlock_MatchesPyTorch(string precision, double tolerance)
    {
        if (precision == "float") RunLayer<float>("lru_block", (h, n) => new LruBlock<float>(new LruBlockConfig(new LruConfig(h, n))), tolerance);
        else RunLayer<double>("lru_block", (h, n) => new LruBlock<double>(new LruBlockConfig(new LruConfig(h, n))), tolerance);
    }

    [Theory, MemberData(nameof(Precisions))]
    public void TwoBlockModel_MatchesPyTorch(string precision, double tolerance)
    {
        if (precision == "float") RunModel<float>(tolerance); else RunModel<double>(tolerance);
    }

    private static void RunModel<T>(double tolerance) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var f = Fixture("lru_model");
        int batch = Meta(f, "batch"), length = Meta(f, "length");
        var config = new SequenceModelConfig(Meta(f, "features"), 0, Meta(f, "outputs"), 2, new LruBlockConfig(new LruConfig(Meta(f, "hidden"), Meta(f, "state"))), PoolingMode.Mean);
        var model = new SequenceModel<T>(config);
        Load(f, model.NamedParameters());
        T[] x = f.ReadFloat64("input").Select(T.CreateChecked).ToArray();
        T[] w = f.ReadFloat64("loss_weights").Select(T.CreateChecked).ToArray();
        T[] y = new T[model.OutputSize(batch, length)], gradX = new T[x.Length];
        model.Forward(x, y, batch, length);
        model.Backward(w, gradX);
        Check<T>(f, y, gradX, model.NamedParameters(), tolerance);
    }
}
