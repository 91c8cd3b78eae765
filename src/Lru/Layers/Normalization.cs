using System.Numerics;
using Lru.Modules;

namespace Lru.Layers;

/// <summary>
/// What <see cref="LayerNorm{T}"/> and <see cref="BatchNorm{T}"/> share: H features in and out, an affine
/// <c>weight</c> (starting at 1) and <c>bias</c> (starting at 0), and ε added to the variance (LRU-MATH §2, <c>Norm</c>).
/// </summary>
/// <typeparam name="T"><see cref="float"/> for models, <see cref="double"/> for verification.</typeparam>
public abstract class Normalization<T> : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Checks the settings and registers <c>weight = 1</c> and <c>bias = 0</c>.</summary>
    /// <param name="features">H, at least 1.</param>
    /// <param name="epsilon">ε, positive and finite.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="features"/> is less than 1 or <paramref name="epsilon"/> is not positive and finite.</exception>
    private protected Normalization(int features, double epsilon)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(features, 1);
        if (!(epsilon > 0) || double.IsInfinity(epsilon))
            throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, $"epsilon must be positive and finite; got {epsilon}.");
        Features = features;
        Epsilon = epsilon;
        Weight = RegisterParameter(new Parameter<T>("weight", features));
        Bias = RegisterParameter(new Parameter<T>("bias", features));
        Weight.Values.AsSpan().Fill(T.One);
    }

    /// <summary>H, the number of features.</summary>
    public int Features { get; }

    /// <summary>ε, added to the variance before the square root.</summary>
    public double Epsilon { get; }

    /// <inheritdoc/>
    public override int InputFeatures => Features;

    /// <inheritdoc/>
    public override int OutputFeatures => Features;

    /// <summary><c>weight</c> (H): the elementwise scale, initially 1.</summary>
    public Parameter<T> Weight { get; }

    /// <summary><c>bias</c> (H): the elementwise offset, initially 0.</summary>
    public Parameter<T> Bias { get; }

    /// <summary>True: in evaluation mode (streaming) every row is normalised on its own.</summary>
    public override bool CanStream => true;
}
