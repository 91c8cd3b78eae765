namespace Lru.Layers;

/// <summary>
/// The shape and ring initialisation of an <see cref="LruLayer{T}"/> (LRU-MATH §1).
/// </summary>
/// <param name="Hidden">The model width <c>H</c> (input and output features), at least 1.</param>
/// <param name="State">The number of complex state channels <c>N</c>, at least 1.</param>
/// <param name="RMin">The smallest eigenvalue modulus of the ring, in [0, <paramref name="RMax"/>).</param>
/// <param name="RMax">The largest eigenvalue modulus of the ring, in (<paramref name="RMin"/>, 1).</param>
/// <param name="MaxPhase">The largest eigenvalue phase, in (0, 2π]; the paper uses π/10 for its longest task.</param>
/// <param name="MatrixD">When true, the skip <c>D</c> is a full (H × H) matrix, <c>y_t = Re(C x_t) + D u_t</c>, as in
/// the LRU-pytorch implementation; otherwise (the paper and the JAX reference) it is elementwise, <c>D ⊙ u_t</c> with D of shape (H).</param>
/// <param name="Reverse">When true, the recurrence runs backwards in time, <c>x_t = λ ⊙ x_{t+1} + γ ⊙ (B u_t)</c> from the
/// last step to the first (the second direction of a bidirectional LRU); such a layer sees the future and cannot stream.</param>
public sealed record LruConfig(int Hidden, int State, double RMin = 0.9, double RMax = 0.999, double MaxPhase = 2 * Math.PI, bool MatrixD = false, bool Reverse = false)
{
    /// <summary>Checks every setting.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A setting is outside its range; the message names it and the value given.</exception>
    public void Validate()
    {
        if (Hidden < 1)
            throw new ArgumentOutOfRangeException(nameof(Hidden), Hidden, $"Hidden (H) must be at least 1; got {Hidden}.");
        if (State < 1)
            throw new ArgumentOutOfRangeException(nameof(State), State, $"State (N) must be at least 1; got {State}.");
        if (!double.IsFinite(RMin) || RMin < 0 || RMin >= 1)
            throw new ArgumentOutOfRangeException(nameof(RMin), RMin, $"r_min must be in [0, 1); got {RMin}.");
        if (!double.IsFinite(RMax) || RMax <= RMin || RMax >= 1)
            throw new ArgumentOutOfRangeException(nameof(RMax), RMax, $"r_max must satisfy r_min ({RMin}) < r_max < 1; got {RMax}.");
        if (!double.IsFinite(MaxPhase) || MaxPhase <= 0 || MaxPhase > 2 * Math.PI + 1e-12)
            throw new ArgumentOutOfRangeException(nameof(MaxPhase), MaxPhase, $"max_phase must be in (0, 2π]; got {MaxPhase}.");
    }
}
