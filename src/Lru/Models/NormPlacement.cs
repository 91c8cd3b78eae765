namespace Lru.Models;

/// <summary>Where the normalisation sits in an <see cref="LruBlock{T}"/>.</summary>
public enum NormPlacement
{
    /// <summary><c>x + f(Norm(x))</c>: normalise the branch input (the reference default).</summary>
    Pre = 0,

    /// <summary><c>Norm(x + f(x))</c>: normalise after the residual sum.</summary>
    Post = 1,
}
