using System.Numerics.Tensors;
using Lru.Tensors;

namespace Lru.Tests.Tensors;

public class DenseTensorTests
{
    [Fact]
    public void Conversions_ShareMemory()
    {
        var t = new DenseTensor<float>(2, 3);
        t[1, 2] = 5;
        Tensor<float> sys = t.AsTensor();
        Assert.Equal(5, sys[1, 2]);
        t.Data[0] = 7;
        Assert.Equal(7, sys[0, 0]);
        TensorSpan<float> span = t.AsTensorSpan();
        span[[0, 1]] = 3;
        Assert.Equal(3, t[0, 1]);
        Assert.Equal(6, span.AsFlatSpan().Length);
        Assert.Equal(3, t.Reshape(3, 2)[0, 1]);
    }

    [Fact]
    public void CopyFrom_HonoursShape()
    {
        Tensor<double> sys = Tensor.Create(new double[] { 1, 2, 3, 4, 5, 6 }, [3, 2]);
        var t = DenseTensor<double>.CopyFrom(sys.AsReadOnlyTensorSpan());
        Assert.Equal([3, 2], t.Shape.ToArray());
        Assert.Equal(4, t[1, 1]);
    }

    [Fact]
    public void BadShapes_AreRefused()
    {
        Assert.Equal("data", Assert.Throws<ArgumentException>(() => new DenseTensor<float>(new float[5], 2, 3)).ParamName);
        Assert.Equal("shape", Assert.Throws<ArgumentException>(() => new DenseTensor<float>(2, -1)).ParamName);
        Assert.Equal("shape", Assert.Throws<ArgumentException>(() => new DenseTensor<float>()).ParamName);
        Assert.Throws<InvalidOperationException>(() => new DenseTensor<float>(2, 3, 4)[0, 0]);
        Assert.Equal("i", Assert.Throws<ArgumentOutOfRangeException>(() => new DenseTensor<float>(2, 3)[2, 0]).ParamName);
    }
}
