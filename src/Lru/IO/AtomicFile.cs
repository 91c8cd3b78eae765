namespace Lru.IO;

/// <summary>
/// Replaces a file so that a reader sees either the previous file or the complete new one, never a
/// partial file: the content goes to a temporary file in the target's directory, is flushed to disk,
/// and is then renamed over the target (an atomic rename on the same file system).
/// </summary>
internal static class AtomicFile
{
    /// <summary>
    /// Writes the file at <paramref name="path"/> through <paramref name="write"/>. If
    /// <paramref name="write"/> throws, the temporary file is deleted, any previous file at
    /// <paramref name="path"/> is left untouched, and the exception propagates.
    /// </summary>
    /// <param name="path">The file to create or replace.</param>
    /// <param name="write">Writes the whole content to the stream it is given; it must not close it.</param>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty or names a directory.</exception>
    /// <exception cref="DirectoryNotFoundException">The directory of <paramref name="path"/> does not exist.</exception>
    /// <exception cref="IOException">The file could not be written or renamed.</exception>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);
        string full = Path.GetFullPath(path);
        string name = Path.GetFileName(full);
        string? directory = Path.GetDirectoryName(full);
        if (name.Length == 0 || directory is null)
            throw new ArgumentException($"path '{path}' does not name a file.", nameof(path));
        if (Directory.Exists(full))
            throw new ArgumentException($"path '{path}' is a directory, not a file.", nameof(path));
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"Cannot write '{path}': the directory '{directory}' does not exist.");

        string temp = Path.Combine(directory, $".{name}.{Guid.NewGuid():N}.tmp");
        bool renamed = false;
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
            renamed = true;
        }
        finally
        {
            if (!renamed) TryDelete(temp);
        }
    }

    private static void TryDelete(string temp)
    {
        try
        {
            File.Delete(temp);
        }
        catch (IOException)
        {
            // The original failure is the one worth reporting; a leftover temporary file is named after
            // its target and starts with a dot, so it is easy to find and remove.
        }
        catch (UnauthorizedAccessException)
        {
            // As above.
        }
    }
}
