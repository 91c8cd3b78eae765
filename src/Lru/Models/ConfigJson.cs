using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Lru.Layers;

namespace Lru.Models;

/// <summary>
/// The JSON form of the model configurations, as stored in checkpoints, and the upgrade of the form written before
/// the LRU's settings moved into <see cref="LruBlockConfig.Lru"/> (a block then held <c>Hidden</c>, <c>State</c>,
/// <c>RMin</c>, <c>RMax</c> and <c>MaxPhase</c> itself).
/// </summary>
internal static class ConfigJson
{
    /// <summary>Enums as names, so files stay readable.</summary>
    public static JsonSerializerOptions Options { get; } = new() { Converters = { new JsonStringEnumConverter() } };

    /// <summary>The LRU settings that a block held itself before they moved into <see cref="LruConfig"/>.</summary>
    private static readonly string[] s_lruKeys = ["Hidden", "State", "RMin", "RMax", "MaxPhase"];

    /// <summary>A model configuration as JSON.</summary>
    public static string Serialize(SequenceModelConfig config) => JsonSerializer.Serialize(config, Options);

    /// <summary>Reads a model configuration in the current or the earlier form and checks it.</summary>
    /// <exception cref="JsonException">The text is not a configuration.</exception>
    /// <exception cref="ArgumentException">A setting is out of range.</exception>
    public static SequenceModelConfig DeserializeModel(string json)
    {
        var node = JsonNode.Parse(json) as JsonObject ?? throw new JsonException("The configuration is not a JSON object.");
        if (node["Block"] is JsonObject block) UpgradeBlock(block);
        var config = node.Deserialize<SequenceModelConfig>(Options) ?? throw new JsonException("The configuration is empty.");
        config.Validate();
        return config;
    }

    /// <summary>
    /// Rewrites a block object of the earlier form in place: its LRU settings go into a nested <c>Lru</c> object.
    /// An object of the current form is left alone.
    /// </summary>
    /// <param name="block">The block's JSON object.</param>
    public static void UpgradeBlock(JsonObject block)
    {
        if (block.ContainsKey("Lru")) return;
        var lru = new JsonObject();
        foreach (string key in s_lruKeys)
        {
            if (block.Remove(key, out var value)) lru[key] = value;
        }
        block["Lru"] = lru;
    }
}
