namespace Lru.Layers;

/// <summary>How <see cref="BidirectionalLru{T}"/> joins its two directions.</summary>
public enum BidirectionalCombine
{
    /// <summary><c>y = y_forward + y_backward</c>.</summary>
    Sum = 0,

    /// <summary><c>y = Linear(2H → H)([y_forward, y_backward])</c>.</summary>
    ConcatProject = 1,
}
