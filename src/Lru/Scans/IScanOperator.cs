namespace Lru.Scans;

/// <summary>
/// An associative operator applied in place to a sequence of elements addressed by time index,
/// as used by <see cref="TreeScan"/>. Element <c>i</c> stands for the composition of a contiguous
/// run of original elements; combining writes <c>element[later] ← element[earlier] • element[later]</c>.
/// </summary>
/// <remarks>
/// The operator must be associative (not necessarily commutative). <c>laterSpan</c> tells how many
/// original elements <c>element[later]</c> currently covers, which lets operators with a constant
/// per-step coefficient (such as the LRU's <c>λ</c>) use <c>λ^span</c> instead of storing it.
/// Implementations are value types so that the scan loop is specialised and inlined by the JIT;
/// combines on distinct targets may run concurrently.
/// </remarks>
public interface IScanOperator
{
    /// <summary>Sets <c>element[later] ← element[earlier] • element[later]</c>.</summary>
    /// <param name="earlier">The index of the element that comes first in time.</param>
    /// <param name="later">The index of the element that comes later in time; it receives the result.</param>
    /// <param name="laterSpan">How many original elements <c>element[later]</c> covers before the combine.</param>
    void Combine(int earlier, int later, int laterSpan);
}
