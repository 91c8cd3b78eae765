namespace Lru.Layers;

/// <summary>Which form of GELU to compute (PyTorch's <c>approximate</c> argument).</summary>
public enum GeluApproximation
{
    /// <summary>The exact form <c>x·Φ(x) = x·½·erfc(−x/√2)</c> (PyTorch <c>approximate='none'</c>, JAX <c>approximate=False</c>).</summary>
    None = 0,

    /// <summary>The tanh form <c>½x·(1 + tanh(√(2/π)·(x + 0.044715x³)))</c> (PyTorch <c>approximate='tanh'</c>, the JAX default).</summary>
    Tanh = 1,
}
