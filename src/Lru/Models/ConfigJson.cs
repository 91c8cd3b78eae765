using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Lru.Layers;

namespace Lru.Models;

/// <summary>
/// The JSON form of the model configurations, as stored in checkpoints. Format-1 files need no upgrade: their blocks
/// already held the nested <c>Lru</c> object (beside flat copies of its settings, which are ignored), and the
/// settings they lack (<see cref="LruBlockConfig.NormEpsilon"/>) default to the values models had then.
/// </summary>
internal static class ConfigJson
{
    /// <summary>Enums as names, so files stay readable.</summary>
    public static JsonSerializerOptions Options { get; } = new() { Converters = { new JsonStringEnumConverter() } };

    /// <summary>A model configuration as JSON.</summary>
    public static string Serialize(SequenceModelConfig config) => JsonSerializer.Serialize(config, Options);

    /// <summary>Reads a model configuration (format 2, or format 1) and checks it.</summary>
    /// <exception cref="JsonException">The text is not a configuration.</exception>
    /// <exception cref="ArgumentException">A setting is out of range.</exception>
    public static SequenceModelConfig DeserializeModel(string json)
    {
        var node = JsonNode.Parse(json) as JsonObject ?? throw new JsonException("The configuration is not a JSON object.");
        var config = node.Deserialize<SequenceModelConfig>(Options) ?? throw new JsonException("The configuration is empty.");
        config.Validate();
        return config;
    }
}
