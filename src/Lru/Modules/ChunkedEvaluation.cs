using System.Numerics;
using System.Runtime.CompilerServices;
using Lru.Tensors;

namespace Lru.Modules;

/// <summary>One chunk of time steps of one sequence through a chain of modules in evaluation mode (see <see cref="ChunkedEvaluation"/>).</summary>
internal interface IChunkBody<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>
    /// <paramref name="input"/> and <paramref name="output"/> are the chunk's <paramref name="rows"/> rows,
    /// <paramref name="carry"/> the sequence's state carried from the previous chunk (written back for the next),
    /// <paramref name="first"/> true for the sequence's first chunk (the carried state is then zero and not read).
    /// </summary>
    void Run(ReadOnlySpan<T> input, Span<T> output, int rows, Span<T> carry, bool first);
}

/// <summary>
/// Evaluation passes chunk by chunk of time steps: each thread takes whole sequences and sends each through a chain of
/// modules (the blocks of a model, the parts of a block) a chunk of <see cref="Rows"/> steps at a time, so that what
/// one module writes is read by the next while it is still in the core's L2, instead of every module streaming the
/// whole batch through memory before the next starts. A module takes part through
/// <see cref="Module{T}.EvaluatesInChunks(int, int)"/> (true for a module whose every output step depends only on the same input
/// step, and for a recurrence that carries <see cref="Module{T}.ChunkState"/> elements of state from chunk to chunk) and
/// <see cref="Module{T}.ForwardChunk"/>.
/// </summary>
/// <remarks>
/// Every element is computed by the same operations as in the module-by-module pass: the row-wise modules' values do
/// not depend on how many rows a call holds (their GEMMs and kernels work row by row, and the few-rows paths of
/// <c>Linear</c> and <c>Glu</c> are never reached: every chunk has at least <see cref="MinRows"/> steps), and the LRU
/// scans step by step from the carried state exactly as its sequential scan does. So the two passes give the same bits
/// (tested), and the choice between them, which depends on the thread count, never changes a result.
/// </remarks>
internal static class ChunkedEvaluation
{
    /// <summary>Fewest steps in a chunk (the last chunk of a sequence takes the steps left over after whole chunks).</summary>
    public const int MinRows = 24;

    /// <summary>Shortest sequence a chunked pass takes: the LRU's per-sequence products pad their rows to whole kernel tiles.</summary>
    public const int MinLength = 64;

    /// <summary>Bytes of one chunk of the widest activation: a chunk's activations, the LRU's states and the GLU's pairs together stay within a quarter of an L2 of 1 MiB or so.</summary>
    private const int ChunkBytes = 64 * 1024;

    /// <summary>Steps per chunk for activations of <paramref name="widest"/> features: a multiple of 12 (the GEMM kernels' row tile) in [24, 504].</summary>
    public static int Rows<T>(int widest) => Math.Clamp(ChunkBytes / (Math.Max(1, widest) * Unsafe.SizeOf<T>()) / 12 * 12, MinRows, 504);

    /// <summary>
    /// Whether an evaluation pass of this shape runs chunked: no padded sequences, sequences of at least
    /// <see cref="MinLength"/> steps, and sequences that share out evenly over <paramref name="workers"/> threads (or
    /// many of them).
    /// </summary>
    public static bool Pays(in SequenceShape shape, int workers) =>
        shape.Lengths.IsEmpty && shape.Length >= MinLength && shape.Batch > 0 && (shape.Batch % workers == 0 || shape.Batch >= 4 * workers);

    /// <summary>
    /// Runs <paramref name="body"/> over every sequence of <paramref name="shape"/>, chunk by chunk, sequences split over
    /// <see cref="Parallelism.MaxThreads"/> threads: input (B, L, <paramref name="inputFeatures"/>) to output
    /// (B, L, <paramref name="outputFeatures"/>); <paramref name="carry"/> holds B × <paramref name="carrySize"/>
    /// elements (contents stale: each sequence's first chunk starts from zero).
    /// </summary>
    public static unsafe void Run<T, TBody>(ref TBody body, ReadOnlySpan<T> input, Span<T> output, Span<T> carry, in SequenceShape shape,
        int inputFeatures, int outputFeatures, int carrySize, int rows)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TBody : struct, IChunkBody<T>
    {
        fixed (T* x = input, y = output, c = carry)
        {
            var work = new Work<T, TBody>
            {
                Body = body, X = x, Y = y, Carry = c, InputFeatures = inputFeatures, OutputFeatures = outputFeatures,
                CarrySize = carrySize, Length = shape.Length, Rows = rows,
            };
            Parallelism.For(shape.Batch, Parallelism.MaxThreads, ref work);
        }
    }

    private unsafe struct Work<T, TBody> : IIndexedWork
        where T : unmanaged, IFloatingPointIeee754<T>
        where TBody : struct, IChunkBody<T>
    {
        public TBody Body;
        public T* X, Y, Carry;
        public int InputFeatures, OutputFeatures, CarrySize, Length, Rows;

        public void Run(int b)
        {
            int chunks = Math.Max(1, Length / Rows);
            var carry = new Span<T>(Carry + (nint)b * CarrySize, CarrySize);
            for (int i = 0; i < chunks; i++)
            {
                // Whole chunks of Rows steps; the last one also takes the steps left over (fewer than Rows).
                int t0 = i * Rows, rows = i == chunks - 1 ? Length - t0 : Rows;
                nint row = (nint)b * Length + t0;
                Body.Run(new ReadOnlySpan<T>(X + row * InputFeatures, rows * InputFeatures), new Span<T>(Y + row * OutputFeatures, rows * OutputFeatures),
                    rows, carry, first: i == 0);
            }
        }
    }
}
