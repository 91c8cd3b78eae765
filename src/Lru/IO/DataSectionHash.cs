using System.Security.Cryptography;

namespace Lru.IO;

/// <summary>
/// The size and SHA-256 of a safetensors file's data section (every byte after the header), computed from
/// the tensors about to be written or from a file read back, so that a checkpoint can record them in its
/// metadata and be checked on load. The digest of a file equals <c>hashlib.sha256(data[8 + n:])</c> in Python.
/// </summary>
internal static class DataSectionHash
{
    /// <summary>The data section <see cref="SafeTensorsWriter"/> writes for <paramref name="tensors"/>, in this order.</summary>
    public static (long Bytes, string Sha256) Of(IEnumerable<SafeTensorData> tensors)
    {
        using var sink = new HashingSink();
        foreach (var t in tensors) t.WriteTo(sink);
        return (sink.Length, sink.Finish());
    }

    /// <summary>The data section of <paramref name="file"/>: its tensors' bytes in the order of their offsets.</summary>
    public static (long Bytes, string Sha256) Of(SafeTensorsFile file)
    {
        using var sink = new HashingSink();
        foreach (var info in file.Tensors.OrderBy(t => t.DataBegin).ThenBy(t => t.DataEnd))
            sink.Write(file.GetRawBytes(info.Name).Span);
        return (sink.Length, sink.Finish());
    }

    /// <summary>A write-only stream that feeds SHA-256 and counts bytes.</summary>
    private sealed class HashingSink : Stream
    {
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private long _length;

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => _length;
        public override long Position { get => _length; set => throw new NotSupportedException(); }

        public string Finish() => Convert.ToHexStringLower(_hash.GetHashAndReset());

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            _hash.AppendData(buffer);
            _length += buffer.Length;
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing) _hash.Dispose();
            base.Dispose(disposing);
        }
    }
}
