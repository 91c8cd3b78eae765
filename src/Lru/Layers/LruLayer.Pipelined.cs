using Lru.Scans;
using Lru.Tensors;

namespace Lru.Layers;

/// <summary>
/// The pipelined passes of the LRU layer: for batches too small to give two threads whole sequences (one sequence, or
/// an odd number below eight), one thread produces the chunks that carry the recurrence and the other follows a chunk
/// behind with the rest, so both cores work and each chunk is used again while it is still in cache.
/// </summary>
/// <remarks>
/// <para>Forward: the producer computes <c>X = U·W_inᵀ</c> and scans it, chunk by chunk in the direction of the
/// recurrence; the consumer computes <c>Y = D ⊙ U + X·W_outᵀ</c> for each chunk the producer has finished. Backward:
/// the producer computes <c>Δ = G·W_out</c>, scans it with conj(λ) the other way in time and adds each chunk to the
/// sequence's shares of G_λ and of a diagonal ∂D; the consumer first computes <c>Gᵀ·X</c> (which needs no Δ) and then
/// <c>∂U (+)= D ⊙ G + Δ·W_in</c> for each finished chunk. The chunks of that second stage are taken one at a time from
/// a shared counter, so the producer, once it has finished its own stage, takes the ones the consumer has not reached.</para>
/// <para>Each chunk goes through the same operations, from the same packed weights, in the same order as in the fused
/// and unfused passes (<c>Gᵀ·X</c> by <see cref="Gemm"/>, whose result does not depend on its thread count), so the
/// three paths give identical bits and the choice between them never changes a result. The two roles are the two
/// items of one <see cref="Parallelism.For{TBody}"/> loop: the producer is item 0, so a thread that runs both runs
/// it first and the consumer never waits for work that has not started.</para>
/// </remarks>
public sealed partial class LruLayer<T>
{
    /// <summary>
    /// Whether a pass of this shape runs pipelined: the shape the fused passes take (sequential scan, packed weights,
    /// sequences of at least <see cref="MinFusedLength"/> steps), exactly two workers, and a batch that does not split
    /// evenly over them (1, 3, 5 or 7 sequences; from 8 on the fused passes balance well enough). Never true where
    /// <see cref="Fuses"/> is (an odd batch below 8 on two workers does not fuse).
    /// </summary>
    internal bool Pipelines(ScanMode mode, int batch, int length, int workers) =>
        workers == 2 && Fusion && _packedIn is not null && length >= MinFusedLength && batch % 2 == 1 && batch < 4 * workers
        && (mode == ScanMode.Auto ? DiagonalRecurrence.ChooseMode(batch, length, StateSize) : mode) == ScanMode.Sequential;

    /// <summary>
    /// Time steps per chunk of the pipelined forward: half the fused passes' chunk (a multiple of 12, at least 24), so the
    /// consumer starts sooner and trails by less (at H = N = 64 in float: 252 steps; 240 and 120 measured within 2 % of
    /// each other, 504 4–6 % slower; Zen 5). The backward keeps <see cref="ChunkSteps"/>, the order in which it sums G_λ.
    /// </summary>
    private int PipelineSteps => Math.Max(24, ChunkSteps / 2 / 12 * 12);

    /// <summary>
    /// The pipelined forward into <paramref name="states"/> (batch·length rows of 2N: kept for a training pass, work
    /// space for an evaluation one) and <paramref name="output"/>; the final states into <paramref name="finalState"/> if not empty.
    /// </summary>
    private unsafe void RunPipelined(ReadOnlySpan<T> input, Span<T> output, Span<T> states, int batch, int length,
        ReadOnlySpan<T> initialState, Span<T> finalState)
    {
        var handoff = new Handoff();
        fixed (T* u = input, y = output, x = states, x0 = initialState, xFinal = finalState, lr = _lambdaRe, li = _lambdaIm, d = D.Value)
        {
            var work = new PipelinedForward
            {
                Layer = this, U = u, Y = y, X = x, X0 = x0, XFinal = xFinal, LamRe = lr, LamIm = li, D = d,
                Batch = batch, Length = length, Shared = &handoff,
            };
            Parallelism.For(2, 2, ref work);
        }
    }

    private unsafe struct PipelinedForward : IIndexedWork, IPipelineStages
    {
        public LruLayer<T> Layer;
        public T* U, Y, X, X0, XFinal, LamRe, LamIm, D;
        public int Batch, Length;
        public Handoff* Shared;

        public readonly void Run(int role) => RunRole(in this, Shared, role);

        private readonly int Steps => Layer.PipelineSteps;

        public readonly int Chunks => Batch * ((Length + Steps - 1) / Steps);

        public readonly bool HasSecondStage => true;

        public readonly void Produce(Handoff* shared)
        {
            var layer = Layer;
            int h = layer.Hidden, n = layer.StateSize, w = 2 * n, steps = Steps, chunks = (Length + steps - 1) / steps;
            bool reverse = layer.Config.Reverse;
            for (int b = 0; b < Batch; b++)
            {
                T* carry = X0 == null ? null : X0 + (nint)b * w;
                for (int i = 0; i < chunks; i++)
                {
                    var (t0, rows) = Chunk(i, chunks, steps, Length, reverse);
                    nint row = (nint)b * Length + t0;
                    layer._packedIn!.Multiply(U + row * h, h, X + row * w, w, rows, accumulate: false);
                    carry = ScanRows(LamRe, LamIm, X + row * w, rows, carry, reverse, n);
                    Volatile.Write(ref shared->Published, b * chunks + i + 1);
                }
                if (XFinal != null) Buffer.MemoryCopy(carry, XFinal + (nint)b * w, (long)w * sizeof(T), (long)w * sizeof(T));
            }
        }

        public readonly void Prepare() { }

        public readonly void Follow(int k)
        {
            var layer = Layer;
            int h = layer.Hidden, w = 2 * layer.StateSize, steps = Steps, chunks = (Length + steps - 1) / steps;
            var (t0, rows) = Chunk(k % chunks, chunks, steps, Length, layer.Config.Reverse);
            nint row = (nint)(k / chunks) * Length + t0;
            layer.Skip(U + row * h, Y + row * h, rows, D, accumulate: false);
            layer._packedOut!.Multiply(X + row * w, w, Y + row * h, h, rows, accumulate: true);
        }
    }

    /// <summary>
    /// The pipelined part of the backward: Δ into <paramref name="delta"/>, each sequence's shares of G_λ and a diagonal
    /// ∂D into <paramref name="shares"/> (batch rows, zeroed), <c>Gᵀ·X</c> into <paramref name="gradW"/> unless it is
    /// empty, and ∂u written or added to <paramref name="gradInput"/> (if not empty).
    /// </summary>
    private unsafe void BackpropPipelined(ReadOnlySpan<T> gradOutput, Span<T> gradInput, Span<T> delta, Span<T> shares, Span<T> gradW,
        ReadOnlySpan<T> negatedIm, int batch, int length, bool accumulate)
    {
        var handoff = new Handoff();
        fixed (T* g = gradOutput, gu = gradInput, dl = delta, ps = shares, gw = gradW, x = _cachedStates, u = _cachedInput, x0 = _cachedInitial,
               lr = _lambdaRe, li = negatedIm, d = D.Value)
        {
            var work = new PipelinedBackward
            {
                Layer = this, G = g, GradU = gu, Delta = dl, Shares = ps, GradW = gw, Stride = shares.Length / batch, X = x, U = u,
                X0 = _cachedHasInitial ? x0 : null, LamRe = lr, NegLamIm = li, D = d, Length = length, Batch = batch, Accumulate = accumulate,
                Shared = &handoff,
            };
            Parallelism.For(2, 2, ref work);
        }
    }

    private unsafe struct PipelinedBackward : IIndexedWork, IPipelineStages
    {
        public LruLayer<T> Layer;
        public T* G, GradU, Delta, Shares, GradW, X, U, X0, LamRe, NegLamIm, D;
        public int Length, Batch, Stride;
        public bool Accumulate;
        public Handoff* Shared;

        public readonly void Run(int role) => RunRole(in this, Shared, role);

        public readonly int Chunks => Batch * ((Length + Layer.ChunkSteps - 1) / Layer.ChunkSteps);

        public readonly bool HasSecondStage => GradU != null;

        public readonly void Produce(Handoff* shared)
        {
            var layer = Layer;
            int h = layer.Hidden, n = layer.StateSize, w = 2 * n, steps = layer.ChunkSteps, chunks = (Length + steps - 1) / steps;
            bool reverse = layer.Config.Reverse;
            for (int b = 0; b < Batch; b++)
            {
                T* carry = null;
                for (int i = 0; i < chunks; i++)
                {
                    var (t0, rows) = Chunk(i, chunks, steps, Length, descending: !reverse);
                    nint row = (nint)b * Length + t0;
                    layer._packedOutT!.Multiply(G + row * h, h, Delta + row * w, w, rows, accumulate: false);
                    carry = ScanRows(LamRe, NegLamIm, Delta + row * w, rows, carry, !reverse, n);
                    layer.AccumulateShares(G, Delta, X, U, X0, b, Length, t0, rows, Shares + (nint)b * Stride);
                    Volatile.Write(ref shared->Published, b * chunks + i + 1);
                }
            }
        }

        /// <summary><c>Gᵀ·X</c>, which needs no Δ, while the producer computes it (unless it is summed per sequence).</summary>
        public readonly void Prepare()
        {
            if (GradW == null) return;
            int h = Layer.Hidden, w = 2 * Layer.StateSize, m = Batch * Length;
            Gemm.Multiply<T>(new ReadOnlySpan<T>(G, m * h), new ReadOnlySpan<T>(X, m * w), new Span<T>(GradW, h * w), h, w, m,
                transposeA: true, threads: 1);
        }

        public readonly void Follow(int k)
        {
            var layer = Layer;
            int h = layer.Hidden, w = 2 * layer.StateSize, steps = layer.ChunkSteps, chunks = (Length + steps - 1) / steps;
            var (t0, rows) = Chunk(k % chunks, chunks, steps, Length, descending: !layer.Config.Reverse);
            nint row = (nint)(k / chunks) * Length + t0;
            layer.Skip(G + row * h, GradU + row * h, rows, D, Accumulate, backward: true);
            layer._packedInT!.Multiply(Delta + row * w, w, GradU + row * h, h, rows, accumulate: true);
        }
    }

    /// <summary>The two stages of a pipelined pass, chunk by chunk (chunk k: sequence k / chunks per sequence, in pass order).</summary>
    private unsafe interface IPipelineStages
    {
        /// <summary>Chunks in the pass, over all sequences.</summary>
        int Chunks { get; }

        /// <summary>Whether there is a second stage to run.</summary>
        bool HasSecondStage { get; }

        /// <summary>The first stage of every chunk in order, publishing each to <paramref name="shared"/> as it is done.</summary>
        void Produce(Handoff* shared);

        /// <summary>The consumer's work before it follows the producer.</summary>
        void Prepare();

        /// <summary>The second stage of chunk <paramref name="k"/>, whose first stage is done.</summary>
        void Follow(int k);
    }

    /// <summary>
    /// One role of a pipelined pass: the producer (0) runs the first stage, publishing each chunk (−1 if it fails, so the
    /// consumer stops; the loop rethrows); the consumer (1) its preparation; then both take the chunks of the second stage
    /// one at a time from the shared counter, the consumer as they are published, the producer once it is done.
    /// </summary>
    private static unsafe void RunRole<TStages>(in TStages stages, Handoff* shared, int role) where TStages : struct, IPipelineStages
    {
        if (role == 0)
        {
            try
            {
                stages.Produce(shared);
            }
            catch
            {
                Volatile.Write(ref shared->Published, -1);
                throw;
            }
        }
        else
        {
            stages.Prepare();
        }
        if (!stages.HasSecondStage) return;
        for (int k, total = stages.Chunks; (k = shared->Claim(total)) >= 0;)
        {
            if (!shared->Await(k + 1)) return;
            stages.Follow(k);
        }
    }

    /// <summary>
    /// What the two roles of a pipelined pass share, on the calling thread's stack: how many chunks the producer has
    /// finished (−1 once it has failed), and how many chunks of the second stage have been taken.
    /// </summary>
    private struct Handoff
    {
        public int Published;
        private int _claimed;

        /// <summary>Takes the next chunk of the second stage: its index in pass order, or −1 when all <paramref name="total"/> are taken.</summary>
        public int Claim(int total)
        {
            int k = Interlocked.Increment(ref _claimed) - 1;
            return k < total ? k : -1;
        }

        /// <summary>Spins until the producer has finished at least <paramref name="count"/> chunks; false if it failed.</summary>
        public readonly bool Await(int count)
        {
            var spin = new SpinWait();
            int done;
            while ((done = Volatile.Read(in Published)) < count)
            {
                if (done < 0) return false;
                spin.SpinOnce(sleep1Threshold: -1);
            }
            return true;
        }
    }
}
