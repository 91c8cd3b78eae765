using System.Numerics;

namespace Lru.Layers;

/// <summary>Builds the hierarchical parameter names of composite layers (<c>glu.out1.weight</c>, <c>blocks.0.lru.nu_log</c>).</summary>
internal static class ParameterNames
{
    /// <summary>The parameters of a sub-layer with <paramref name="prefix"/> put before each name.</summary>
    public static IEnumerable<(string Name, Parameter<T> Parameter)> Prefixed<T>(string prefix, IEnumerable<(string Name, Parameter<T> Parameter)> parameters)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        foreach (var (name, p) in parameters) yield return (prefix + name, p);
    }
}
