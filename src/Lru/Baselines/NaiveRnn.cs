using Lru.Tensors;

namespace Lru.Baselines;

/// <summary>
/// The baseline the LRU is measured against: a dense tanh RNN
/// <c>h_t = tanh(W h_{t-1} + U u_t)</c>, <c>y_t = V h_t</c> with hidden size N, computed step by
/// step with plain scalar loops, exactly as a first implementation would. Not for production use.
/// </summary>
internal sealed class NaiveRnn
{
    private readonly float[] _w, _u, _v;

    public NaiveRnn(int hidden, int state, long seed)
    {
        Hidden = hidden;
        State = state;
        var random = new SeededRandom(seed);
        _w = Normal(random, state * state, 1.0 / Math.Sqrt(state));
        _u = Normal(random, state * hidden, 1.0 / Math.Sqrt(hidden));
        _v = Normal(random, hidden * state, 1.0 / Math.Sqrt(state));
    }

    public int Hidden { get; }

    public int State { get; }

    /// <summary>W (N × N), U (N × H), V (H × N), row-major.</summary>
    public (float[] W, float[] U, float[] V) Weights => (_w, _u, _v);

    /// <summary>y (B, L, H) from u (B, L, H), starting from h = 0.</summary>
    public void Forward(ReadOnlySpan<float> input, Span<float> output, int batch, int length)
    {
        int h = Hidden, n = State;
        Guard.Length(input.Length, nameof(input), "batch, length, H", batch, length, h);
        Guard.Length(output.Length, nameof(output), "batch, length, H", batch, length, h);
        var state = new float[n];
        var next = new float[n];
        for (int b = 0; b < batch; b++)
        {
            Array.Clear(state);
            for (int t = 0; t < length; t++)
            {
                int row = (b * length + t) * h;
                for (int i = 0; i < n; i++)
                {
                    float s = 0;
                    for (int j = 0; j < n; j++) s += _w[i * n + j] * state[j];
                    for (int j = 0; j < h; j++) s += _u[i * h + j] * input[row + j];
                    next[i] = MathF.Tanh(s);
                }
                (state, next) = (next, state);
                for (int i = 0; i < h; i++)
                {
                    float s = 0;
                    for (int j = 0; j < n; j++) s += _v[i * n + j] * state[j];
                    output[row + i] = s;
                }
            }
        }
    }

    private static float[] Normal(SeededRandom random, int count, double std)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++) values[i] = (float)(std * random.NextNormal());
        return values;
    }
}
