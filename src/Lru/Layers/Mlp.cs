using System.Numerics;
using Lru.Modules;
using Lru.Tensors;

namespace Lru.Layers;

/// <summary>
/// The feed-forward alternative to the GLU in the LRU block (LRU-MATH §2):
/// <c>y = fc2(GELU(fc1(x)))</c> with <c>fc1</c>: H → E·H and <c>fc2</c>: E·H → H (E the expansion, default 4).
/// Input and output are (B, L, H). Parameters are named <c>fc1.weight</c>, <c>fc1.bias</c>, <c>fc2.weight</c>,
/// <c>fc2.bias</c>.
/// </summary>
/// <remarks>
/// A <see cref="Sequential{T}"/> of three modules (<c>fc1</c>, <c>activation</c>, <c>fc2</c>): each keeps what its
/// backward pass needs, the hidden activations of a forward pass live in work space from the container's pool, so
/// evaluation-mode forward passes may run on several threads at once. Training is single-threaded (see
/// <see cref="Module{T}"/>).
/// </remarks>
/// <typeparam name="T"><see cref="float"/> for models, <see cref="double"/> for verification.</typeparam>
public sealed class Mlp<T> : Sequential<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>True: the backward pass is <see cref="Sequential{T}"/>'s.</summary>
    private protected override bool BackwardIsSequential => true;

    /// <summary>True: the forward pass is <see cref="Sequential{T}"/>'s.</summary>
    private protected override bool ForwardIsSequential => true;

    /// <summary>Creates the block with both linear layers initialised like PyTorch from a seed.</summary>
    /// <param name="features">H, at least 1.</param>
    /// <param name="expansion">E: the hidden width is E·H; at least 1 (default 4).</param>
    /// <param name="approximation">The form of GELU (default exact).</param>
    /// <param name="seed">The seed; <c>fc1</c> is drawn first, then <c>fc2</c>, from one generator.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="features"/> or <paramref name="expansion"/> is less than 1, or <paramref name="approximation"/> is not defined.</exception>
    public Mlp(int features, int expansion = 4, GeluApproximation approximation = GeluApproximation.None, long seed = 0)
        : this(features, expansion, approximation, new SeededRandom(seed))
    {
    }

    /// <summary>Creates the block with both linear layers initialised like PyTorch from <paramref name="random"/> (<c>fc1</c> first).</summary>
    /// <param name="features">H, at least 1.</param>
    /// <param name="expansion">E: the hidden width is E·H; at least 1.</param>
    /// <param name="approximation">The form of GELU.</param>
    /// <param name="random">The generator.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="features"/> or <paramref name="expansion"/> is less than 1, or <paramref name="approximation"/> is not defined.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="random"/> is null.</exception>
    public Mlp(int features, int expansion, GeluApproximation approximation, SeededRandom random)
        : base(Parts(features, expansion, approximation, random))
    {
        FixModules(); // Fc1, Activation and Fc2 name the three children
    }

    private static (string, Module<T>)[] Parts(int features, int expansion, GeluApproximation approximation, SeededRandom random)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(features, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(expansion, 1);
        ArgumentNullException.ThrowIfNull(random);
        int hidden = checked(features * expansion);
        var activation = new Gelu<T>(hidden, approximation);
        var fc1 = new Linear<T>(features, hidden, random);
        var fc2 = new Linear<T>(hidden, features, random);
        return [("fc1", fc1), ("activation", activation), ("fc2", fc2)];
    }

    /// <summary>H, the features per time step of input and output.</summary>
    public int Features => Fc1.InputFeatures;

    /// <summary>E·H, the hidden width.</summary>
    public int HiddenFeatures => Fc1.OutputFeatures;

    /// <summary><c>fc1</c>: H → E·H.</summary>
    public Linear<T> Fc1 => (Linear<T>)this[0];

    /// <summary>The GELU between the two linear layers.</summary>
    public Gelu<T> Activation => (Gelu<T>)this[1];

    /// <summary><c>fc2</c>: E·H → H.</summary>
    public Linear<T> Fc2 => (Linear<T>)this[2];
}
