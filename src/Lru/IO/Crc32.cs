namespace Lru.IO;

/// <summary>The CRC-32 of gzip and zlib (ISO 3309, reflected polynomial 0xEDB88320), table-driven.</summary>
internal static class Crc32
{
    /// <summary>The register's value before any data.</summary>
    public const uint Initial = 0xFFFFFFFF;

    private static readonly uint[] Table = BuildTable();

    /// <summary>Feeds <paramref name="data"/> into the register <paramref name="crc"/>.</summary>
    public static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        uint[] table = Table;
        foreach (byte b in data) crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc;
    }

    /// <summary>The checksum of everything fed into <paramref name="crc"/>.</summary>
    public static uint Final(uint crc) => crc ^ 0xFFFFFFFF;

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
            table[n] = c;
        }
        return table;
    }
}
