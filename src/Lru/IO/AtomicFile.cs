using System.Diagnostics;
using System.Globalization;

namespace Lru.IO;

/// <summary>
/// Replaces a file so that a reader sees either the previous file or the complete new one, never a
/// partial file, even if the writing process is killed at any instruction: the content goes to a
/// temporary file in the target's directory, is flushed to disk (<c>fsync</c>), and is renamed over the
/// target (an atomic rename on the same file system).
/// </summary>
/// <remarks>
/// The temporary file is named <c>.&lt;name&gt;.&lt;process id&gt;.&lt;random&gt;.tmp</c>. A process killed while
/// writing leaves it behind; the next successful write to the same target deletes every such file whose
/// process is no longer running, so killed writers never accumulate files. (Process ids are those of this
/// machine's process namespace: directories shared between containers with separate namespaces should not
/// have two writers of the same target.)
/// The directory entry itself is not flushed: .NET offers no managed way to open a directory for
/// <c>fsync</c>, and the library makes no native calls. After a power loss (not a process crash) the
/// rename may therefore be undone, leaving the previous complete file in place: the last save can be
/// lost, but never half-written.
/// </remarks>
internal static class AtomicFile
{
    /// <summary>The pause requested for the next write on this thread, if any (see <see cref="PauseNextWrite"/>).</summary>
    [ThreadStatic] private static (long AfterBytes, Action<string, long> Pause)? t_pause;

    /// <summary>
    /// A hook for crash tests: the next <see cref="Write"/> on the calling thread calls <paramref name="pause"/> once,
    /// inside the write, as soon as at least <paramref name="afterBytes"/> bytes of the content have reached the
    /// temporary file (they are flushed to the operating system first, so the file holds them), before the rest of the
    /// content, the <c>fsync</c> and the rename. <paramref name="pause"/> gets the temporary file's path and the bytes
    /// written so far, and the write goes on when it returns. If the content is shorter than
    /// <paramref name="afterBytes"/>, the pause comes after the last byte, still before the <c>fsync</c> and the rename.
    /// Used only by the hidden <c>lru checkpoint-soak</c> diagnostic; other writes are unaffected.
    /// </summary>
    /// <param name="afterBytes">Bytes of content to write before pausing, at least 1.</param>
    /// <param name="pause">Called once with the temporary file's path and the number of bytes in it.</param>
    internal static void PauseNextWrite(long afterBytes, Action<string, long> pause)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(afterBytes, 1);
        ArgumentNullException.ThrowIfNull(pause);
        t_pause = (afterBytes, pause);
    }

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

        string temp = Path.Combine(directory, TempName(name, Environment.ProcessId));
        var pause = t_pause;
        t_pause = null;
        bool renamed = false;
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                if (pause is { } p)
                {
                    var pausing = new PausingStream(stream, temp, p.AfterBytes, p.Pause);
                    write(pausing);
                    pausing.PauseIfPending();
                }
                else
                {
                    write(stream);
                }
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
            renamed = true;
        }
        finally
        {
            if (!renamed) TryDelete(temp);
        }
        DeleteOrphans(directory, name);
    }

    /// <summary>The name of a temporary file for the target <paramref name="name"/> written by process <paramref name="processId"/>.</summary>
    internal static string TempName(string name, int processId) =>
        $".{name}.{processId.ToString(CultureInfo.InvariantCulture)}.{Guid.NewGuid():N}.tmp";

    /// <summary>
    /// The process id in the name of a temporary file of the target <paramref name="name"/>, or null if
    /// <paramref name="fileName"/> is not such a file.
    /// </summary>
    internal static int? TempOwner(string fileName, string name)
    {
        string prefix = "." + name + ".";
        const string Suffix = ".tmp";
        if (fileName.Length <= prefix.Length + Suffix.Length
            || !fileName.StartsWith(prefix, StringComparison.Ordinal) || !fileName.EndsWith(Suffix, StringComparison.Ordinal))
            return null;
        var middle = fileName.AsSpan(prefix.Length, fileName.Length - prefix.Length - Suffix.Length);
        int dot = middle.IndexOf('.');
        if (dot <= 0) return null;
        var random = middle[(dot + 1)..];
        if (random.Length != 32 || !Guid.TryParseExact(random, "N", out _)) return null;
        return int.TryParse(middle[..dot], NumberStyles.None, CultureInfo.InvariantCulture, out int pid) && pid > 0 ? pid : null;
    }

    /// <summary>Deletes the temporary files of <paramref name="name"/> whose writing process is no longer running.</summary>
    private static void DeleteOrphans(string directory, string name)
    {
        IEnumerable<string> candidates;
        try
        {
            candidates = Directory.EnumerateFiles(directory, ".*.tmp", SearchOption.TopDirectoryOnly).ToArray();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return; // the write itself succeeded; cleaning up is a courtesy
        }
        foreach (string file in candidates)
        {
            if (TempOwner(Path.GetFileName(file), name) is not int owner || IsRunning(owner)) continue;
            TryDelete(file);
        }
    }

    private static bool IsRunning(int processId)
    {
        if (processId == Environment.ProcessId) return true; // another thread of this process may be writing
        try
        {
            using var process = Process.GetProcessById(processId);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false; // no such process
        }
        catch (InvalidOperationException)
        {
            return false; // it exited meanwhile
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

    /// <summary>Passes writes to the temporary file and calls the pause of <see cref="PauseNextWrite"/> once enough bytes are in it.</summary>
    private sealed class PausingStream(FileStream inner, string path, long afterBytes, Action<string, long> pause) : Stream
    {
        private long _written;
        private bool _paused;

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            inner.Write(buffer);
            _written += buffer.Length;
            if (_written >= afterBytes) PauseIfPending();
        }

        public override void WriteByte(byte value) => Write([value]);

        /// <summary>Pauses now unless it already has: the bytes written so far go to the file first.</summary>
        public void PauseIfPending()
        {
            if (_paused) return;
            _paused = true;
            inner.Flush();
            pause(path, _written);
        }
    }
}
