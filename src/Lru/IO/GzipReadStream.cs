using System.Buffers.Binary;
using System.IO.Compression;

namespace Lru.IO;

/// <summary>
/// Decompresses a single-member gzip stream and, unlike <see cref="GZipStream"/> alone, refuses a
/// stream whose trailer is missing or wrong: at the end it checks that the last 8 compressed bytes are
/// the CRC-32 and the length (mod 2^32) of everything decompressed. <see cref="GZipStream"/> stops
/// quietly when the input ends early, so without this check a file cut inside its last block or its
/// trailer would pass unnoticed. Decompressor errors become <see cref="InvalidDataException"/>s that
/// name the file. Streams of several concatenated gzip members are refused by the same check.
/// </summary>
internal sealed class GzipReadStream : ForwardReadStream
{
    private readonly TrackingSource _source;
    private readonly GZipStream _gzip;
    private readonly string _messagePrefix;
    private readonly System.IO.Hashing.Crc32 _crc = new();
    private long _length;
    private bool _verified;

    /// <summary>Starts decompressing.</summary>
    /// <param name="source">The compressed stream, positioned after <paramref name="sniffed"/>; read to its end but not disposed.</param>
    /// <param name="sniffed">Bytes already taken from <paramref name="source"/> to recognise the format; they are decompressed first.</param>
    /// <param name="messagePrefix">Starts every message, for example <c>IDX file 'x.gz'</c>.</param>
    public GzipReadStream(Stream source, byte[] sniffed, string messagePrefix)
    {
        _source = new TrackingSource(source, sniffed);
        _gzip = new GZipStream(_source, CompressionMode.Decompress, leaveOpen: true);
        _messagePrefix = messagePrefix;
    }

    /// <inheritdoc/>
    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty || _verified) return 0;
        int n;
        try
        {
            n = _gzip.Read(buffer);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{_messagePrefix}: the gzip data is corrupt ({e.Message})", e);
        }
        if (n > 0)
        {
            _crc.Append(buffer[..n]);
            _length += n;
            return n;
        }
        VerifyTrailer();
        return 0;
    }

    private void VerifyTrailer()
    {
        _verified = true;
        _source.ReadToEnd();
        ReadOnlySpan<byte> tail = _source.LastBytes;
        bool ok = _source.Count >= 18 // 10-byte header + 8-byte trailer at least
            && BinaryPrimitives.ReadUInt32LittleEndian(tail) == _crc.GetCurrentHashAsUInt32()
            && BinaryPrimitives.ReadUInt32LittleEndian(tail[4..]) == (uint)_length;
        if (!ok)
            throw new InvalidDataException(
                $"{_messagePrefix}: the gzip data is truncated or corrupt: after {_length} decompressed bytes, the last 8 of its {_source.Count} " +
                "compressed bytes are not the CRC-32 and length of the data (several concatenated gzip members are not supported either).");
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing) _gzip.Dispose();
        base.Dispose(disposing);
    }

    /// <summary>The compressed input: the sniffed bytes, then the source; counts the bytes and keeps the last 8.</summary>
    private sealed class TrackingSource(Stream inner, byte[] prefix) : ForwardReadStream
    {
        private readonly byte[] _last = new byte[8];
        private int _prefixUsed;

        /// <summary>How many bytes were delivered.</summary>
        public long Count { get; private set; }

        /// <summary>The last 8 bytes delivered (fewer are zero-padded at the front, and then <see cref="Count"/> is below 8).</summary>
        public ReadOnlySpan<byte> LastBytes => _last;

        /// <summary>Reads and tracks whatever is left of the input.</summary>
        public void ReadToEnd()
        {
            Span<byte> scratch = stackalloc byte[4096];
            while (Read(scratch) > 0)
            {
            }
        }

        public override int Read(Span<byte> buffer)
        {
            if (buffer.IsEmpty) return 0;
            int n;
            if (_prefixUsed < prefix.Length)
            {
                n = Math.Min(buffer.Length, prefix.Length - _prefixUsed);
                prefix.AsSpan(_prefixUsed, n).CopyTo(buffer);
                _prefixUsed += n;
            }
            else
            {
                n = inner.Read(buffer);
            }
            Track(buffer[..n]);
            return n;
        }

        private void Track(ReadOnlySpan<byte> data)
        {
            Count += data.Length;
            if (data.Length >= 8)
            {
                data[^8..].CopyTo(_last);
            }
            else if (data.Length > 0)
            {
                _last.AsSpan(data.Length).CopyTo(_last);
                data.CopyTo(_last.AsSpan(8 - data.Length));
            }
        }
    }
}
