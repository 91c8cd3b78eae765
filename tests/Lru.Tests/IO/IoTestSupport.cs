namespace Lru.Tests.IO;

/// <summary>A fresh directory under the system temp folder, deleted on dispose.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "lru-io-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>The names of all files in the directory, hidden ones included, sorted.</summary>
    public string[] Names() => Directory.GetFiles(Path).Select(f => System.IO.Path.GetFileName(f)!).Order(StringComparer.Ordinal).ToArray();

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
    }
}

/// <summary>A stream that hides its length and cannot seek, like a network or pipe stream.</summary>
internal sealed class NonSeekableStream(Stream inner) : Stream
{
    public NonSeekableStream(byte[] bytes) : this(new MemoryStream(bytes, writable: false)) { }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}

internal static class IoAssert
{
    /// <summary>Characters that keep a mutated header syntactically interesting.</summary>
    private const string JsonishBytes = "{}[](),:'\" 0123456789-eE.\\TF";

    /// <summary>Asserts that <paramref name="read"/> throws exactly <see cref="InvalidDataException"/> whose message has every fragment.</summary>
    public static InvalidDataException Refused(Action read, params string[] fragments)
    {
        var e = Assert.Throws<InvalidDataException>(read);
        foreach (string f in fragments)
            Assert.True(e.Message.Contains(f, StringComparison.Ordinal), $"message \"{e.Message}\" lacks \"{f}\"");
        return e;
    }

    /// <summary>
    /// Every proper prefix of <paramref name="valid"/> (lengths 0 to n−1) is refused with
    /// <see cref="InvalidDataException"/>, both from memory and from a stream that cannot seek.
    /// </summary>
    public static void EveryTruncationRefused(byte[] valid, Action<Stream> read)
    {
        for (int n = 0; n < valid.Length; n++)
        {
            byte[] prefix = valid[..n];
            var seekable = Record.Exception(() => read(new MemoryStream(prefix, writable: false)));
            Assert.True(seekable is InvalidDataException, $"length {n} of {valid.Length}: {seekable?.GetType().Name ?? "no exception"}: {seekable?.Message}");
            var forward = Record.Exception(() => read(new NonSeekableStream(prefix)));
            Assert.True(forward is InvalidDataException, $"length {n} of {valid.Length} (not seekable): {forward?.GetType().Name ?? "no exception"}: {forward?.Message}");
        }
    }

    /// <summary>
    /// Applies <paramref name="count"/> seeded random mutations (byte changes, bit flips, insertions,
    /// deletions) to <paramref name="valid"/>; each result must either read successfully (and then
    /// <paramref name="use"/> must succeed) or be refused with <see cref="InvalidDataException"/>.
    /// </summary>
    public static (int Accepted, int Refused) Mutations<T>(byte[] valid, int count, int seed, Func<Stream, T> read, Action<T> use)
    {
        var rng = new Random(seed);
        int accepted = 0, refused = 0;
        for (int i = 0; i < count; i++)
        {
            var bytes = new List<byte>(valid);
            int edits = 1 + rng.Next(3);
            for (int k = 0; k < edits; k++)
            {
                int at = rng.Next(bytes.Count);
                switch (rng.Next(5))
                {
                    case 0: bytes[at] = (byte)rng.Next(256); break;
                    case 1: bytes[at] ^= (byte)(1 << rng.Next(8)); break;
                    case 2: bytes.Insert(at, (byte)rng.Next(256)); break;
                    case 3: if (bytes.Count > 1) bytes.RemoveAt(at); break;
                    default: bytes[at] = (byte)JsonishBytes[rng.Next(JsonishBytes.Length)]; break;
                }
            }
            byte[] mutated = bytes.ToArray();
            Stream source = rng.Next(2) == 0 ? new MemoryStream(mutated, writable: false) : new NonSeekableStream(mutated);
            T result;
            try
            {
                result = read(source);
            }
            catch (InvalidDataException)
            {
                refused++;
                continue;
            }
            catch (Exception e)
            {
                Assert.Fail($"mutation {i} ({Convert.ToHexString(mutated)}) threw {e.GetType().Name}: {e.Message}");
                throw;
            }
            use(result);
            accepted++;
        }
        return (accepted, refused);
    }

    /// <summary>Bytes allocated on this thread while running <paramref name="action"/> (after one warm-up run).</summary>
    public static long AllocatedBy(Action action)
    {
        action();
        long before = GC.GetAllocatedBytesForCurrentThread();
        action();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }
}
