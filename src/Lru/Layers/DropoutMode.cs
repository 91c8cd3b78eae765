namespace Lru.Layers;

/// <summary>How <see cref="Dropout{T}"/> draws its mask.</summary>
public enum DropoutMode
{
    /// <summary>One mask per sequence, (B, H), shared by all time steps (as the JAX reference of the LRU block does).</summary>
    PerSequence = 0,

    /// <summary>An independent mask value for every element, (B, L, H) (as PyTorch's <c>nn.Dropout</c>).</summary>
    PerElement = 1,
}
