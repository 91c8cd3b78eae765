namespace Lru.Models;

/// <summary>The position-wise layer after the LRU and GELU in an <see cref="LruBlock{T}"/>.</summary>
public enum MixerKind
{
    /// <summary><c>out1(z) ⊙ sigmoid(out2(z))</c> with two Linear(H → H).</summary>
    Glu = 0,

    /// <summary>Linear(H → e·H) → GELU → Linear(e·H → H).</summary>
    Mlp = 1,
}
