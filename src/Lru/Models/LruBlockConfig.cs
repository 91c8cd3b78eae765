using Lru.Layers;

namespace Lru.Models;

/// <summary>Which normalisation an <see cref="LruBlock{T}"/> uses.</summary>
public enum NormKind
{
    /// <summary>LayerNorm over the features of every time step.</summary>
    LayerNorm = 0,

    /// <summary>BatchNorm over batch and time per feature, with running statistics for evaluation.</summary>
    BatchNorm = 1,
}

/// <summary>Where the normalisation sits in an <see cref="LruBlock{T}"/>.</summary>
public enum NormPlacement
{
    /// <summary><c>x + f(Norm(x))</c>: normalise the branch input (the reference default).</summary>
    Pre = 0,

    /// <summary><c>Norm(x + f(x))</c>: normalise after the residual sum.</summary>
    Post = 1,
}

/// <summary>The position-wise layer after the LRU and GELU in an <see cref="LruBlock{T}"/>.</summary>
public enum MixerKind
{
    /// <summary><c>out1(z) ⊙ sigmoid(out2(z))</c> with two Linear(H → H).</summary>
    Glu = 0,

    /// <summary>Linear(H → e·H) → GELU → Linear(e·H → H).</summary>
    Mlp = 1,
}

/// <summary>
/// The settings of one <see cref="LruBlock{T}"/> (LRU-MATH §2) and of the LRU inside it.
/// </summary>
/// <param name="Hidden">The model width H, at least 1.</param>
/// <param name="State">The LRU state size N, at least 1.</param>
/// <param name="RMin">Smallest eigenvalue modulus of the ring initialisation.</param>
/// <param name="RMax">Largest eigenvalue modulus of the ring initialisation.</param>
/// <param name="MaxPhase">Largest eigenvalue phase of the ring initialisation.</param>
/// <param name="Norm">LayerNorm or BatchNorm.</param>
/// <param name="Placement">Pre-norm or post-norm.</param>
/// <param name="Mixer">GLU or MLP after the LRU.</param>
/// <param name="MlpExpansion">The MLP's hidden width factor e (for <see cref="MixerKind.Mlp"/>), at least 1.</param>
/// <param name="DropoutRate">The rate of both dropouts, in [0, 1).</param>
/// <param name="DropoutMode">One mask per sequence (the reference) or per element.</param>
/// <param name="Residual">Whether the block adds its input back (<c>x + z</c>).</param>
/// <param name="Gelu">Exact or tanh GELU.</param>
/// <param name="Bidirectional">Whether the LRU is a <see cref="BidirectionalLru{T}"/> (cannot stream).</param>
/// <param name="Combine">How a bidirectional LRU joins its directions.</param>
public sealed record LruBlockConfig(
    int Hidden,
    int State,
    double RMin = 0.9,
    double RMax = 0.999,
    double MaxPhase = 2 * Math.PI,
    NormKind Norm = NormKind.LayerNorm,
    NormPlacement Placement = NormPlacement.Pre,
    MixerKind Mixer = MixerKind.Glu,
    int MlpExpansion = 4,
    double DropoutRate = 0.0,
    DropoutMode DropoutMode = DropoutMode.PerSequence,
    bool Residual = true,
    GeluApproximation Gelu = GeluApproximation.None,
    bool Bidirectional = false,
    BidirectionalCombine Combine = BidirectionalCombine.Sum)
{
    /// <summary>The configuration of the LRU layer inside the block.</summary>
    public LruConfig Lru => new(Hidden, State, RMin, RMax, MaxPhase);

    /// <summary>Checks every setting.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range; the message names it and gives the value.</exception>
    public void Validate()
    {
        Lru.Validate();
        if (!Enum.IsDefined(Norm)) throw new ArgumentOutOfRangeException(nameof(Norm), Norm, "Unknown norm kind.");
        if (!Enum.IsDefined(Placement)) throw new ArgumentOutOfRangeException(nameof(Placement), Placement, "Unknown norm placement.");
        if (!Enum.IsDefined(Mixer)) throw new ArgumentOutOfRangeException(nameof(Mixer), Mixer, "Unknown mixer kind.");
        if (MlpExpansion < 1) throw new ArgumentOutOfRangeException(nameof(MlpExpansion), MlpExpansion, "MlpExpansion must be at least 1.");
        if (!(DropoutRate >= 0 && DropoutRate < 1)) throw new ArgumentOutOfRangeException(nameof(DropoutRate), DropoutRate, "The dropout rate must be in [0, 1).");
        if (!Enum.IsDefined(Combine)) throw new ArgumentOutOfRangeException(nameof(Combine), Combine, "Unknown combine mode.");
        if (!Enum.IsDefined(DropoutMode)) throw new ArgumentOutOfRangeException(nameof(DropoutMode), DropoutMode, "Unknown dropout mode.");
        if (!Enum.IsDefined(Gelu)) throw new ArgumentOutOfRangeException(nameof(Gelu), Gelu, "Unknown GELU approximation.");
    }
}
