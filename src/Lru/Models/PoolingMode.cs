namespace Lru.Models;

/// <summary>How <see cref="Pooling{T}"/> reduces a sequence over time (LRU-MATH §2, the model's pooling).</summary>
public enum PoolingMode
{
    /// <summary>The mean over the valid time steps: output (B, H).</summary>
    Mean = 0,

    /// <summary>The last valid time step: output (B, H).</summary>
    Last = 1,

    /// <summary>No pooling, for per-step outputs: output (B, L, H), a copy of the input.</summary>
    None = 2,
}
