namespace Lru.Models;

/// <summary>Which normalisation an <see cref="LruBlock{T}"/> uses.</summary>
public enum NormKind
{
    /// <summary>LayerNorm over the features of every time step.</summary>
    LayerNorm = 0,

    /// <summary>BatchNorm over batch and time per feature, with running statistics for evaluation.</summary>
    BatchNorm = 1,
}
