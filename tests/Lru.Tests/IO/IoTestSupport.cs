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

    /// <summary>Bytes allocated on this thread while running <paramref name="action"/> (after one warm-up run).</summary>
    public static long AllocatedBy(Action action)
    {
        action();
        long before = GC.GetAllocatedBytesForCurrentThread();
        action();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }
}
