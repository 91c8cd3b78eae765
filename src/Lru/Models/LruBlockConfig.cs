using System.Text.Json.Serialization;
using Lru.Layers;

namespace Lru.Models;

/// <summary>
/// The settings of one <see cref="LruBlock{T}"/> (LRU-MATH §2): the LRU inside it (<see cref="Lru"/>: width H, state N,
/// ring initialisation, direction) and what surrounds it. Every LRU hyper-parameter is declared once, in
/// <see cref="LruConfig"/>.
/// </summary>
/// <param name="Lru">The LRU layer: width H, state N, ring initialisation, elementwise or matrix D, direction.</param>
/// <param name="Norm">LayerNorm or BatchNorm.</param>
/// <param name="Placement">Pre-norm or post-norm.</param>
/// <param name="NormEpsilon">ε of the normalisation, positive: 1e-5 as in PyTorch (flax's LayerNorm uses 1e-6).</param>
/// <param name="Mixer">GLU or MLP after the LRU.</param>
/// <param name="MlpExpansion">The MLP's hidden width factor e (for <see cref="MixerKind.Mlp"/>), at least 1.</param>
/// <param name="DropoutRate">The rate of both dropouts, in [0, 1).</param>
/// <param name="DropoutMode">One mask per sequence (the reference) or per element.</param>
/// <param name="Residual">Whether the block adds its input back (<c>x + z</c>).</param>
/// <param name="Gelu">Exact or tanh GELU.</param>
/// <param name="Bidirectional">Whether the LRU is a <see cref="BidirectionalLru{T}"/> (cannot stream).</param>
/// <param name="Combine">How a bidirectional LRU joins its directions.</param>
public sealed record LruBlockConfig(
    LruConfig Lru,
    NormKind Norm = NormKind.LayerNorm,
    NormPlacement Placement = NormPlacement.Pre,
    double NormEpsilon = 1e-5,
    MixerKind Mixer = MixerKind.Glu,
    int MlpExpansion = 4,
    double DropoutRate = 0.0,
    DropoutMode DropoutMode = DropoutMode.PerSequence,
    bool Residual = true,
    GeluApproximation Gelu = GeluApproximation.None,
    bool Bidirectional = false,
    BidirectionalCombine Combine = BidirectionalCombine.Sum)
{
    /// <summary>The model width H (<see cref="LruConfig.Hidden"/>).</summary>
    [JsonIgnore]
    public int Hidden => Lru.Hidden;

    /// <summary>The LRU state size N (<see cref="LruConfig.State"/>).</summary>
    [JsonIgnore]
    public int State => Lru.State;

    /// <summary>Checks every setting.</summary>
    /// <exception cref="ArgumentNullException"><see cref="Lru"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range; the message names it and gives the value.</exception>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Lru);
        Lru.Validate();
        if (!Enum.IsDefined(Norm)) throw new ArgumentOutOfRangeException(nameof(Norm), Norm, "Unknown norm kind.");
        if (!Enum.IsDefined(Placement)) throw new ArgumentOutOfRangeException(nameof(Placement), Placement, "Unknown norm placement.");
        if (!(NormEpsilon > 0) || double.IsInfinity(NormEpsilon)) throw new ArgumentOutOfRangeException(nameof(NormEpsilon), NormEpsilon, "NormEpsilon must be positive and finite.");
        if (!Enum.IsDefined(Mixer)) throw new ArgumentOutOfRangeException(nameof(Mixer), Mixer, "Unknown mixer kind.");
        if (MlpExpansion < 1) throw new ArgumentOutOfRangeException(nameof(MlpExpansion), MlpExpansion, "MlpExpansion must be at least 1.");
        if (!(DropoutRate >= 0 && DropoutRate < 1)) throw new ArgumentOutOfRangeException(nameof(DropoutRate), DropoutRate, $"DropoutRate must be in [0, 1); got {DropoutRate}.");
        if (!Enum.IsDefined(Combine)) throw new ArgumentOutOfRangeException(nameof(Combine), Combine, "Unknown combine mode.");
        if (!Enum.IsDefined(DropoutMode)) throw new ArgumentOutOfRangeException(nameof(DropoutMode), DropoutMode, "Unknown dropout mode.");
        if (!Enum.IsDefined(Gelu)) throw new ArgumentOutOfRangeException(nameof(Gelu), Gelu, "Unknown GELU approximation.");
    }
}
