using System.Text.Json;
using System.Text.Json.Nodes;
using Lru.Models;
using Lru.Tasks;

namespace Lru.Cli;

/// <summary>What a training checkpoint records about its run (in the safetensors metadata), so <c>--resume</c> and <c>eval</c> can rebuild it.</summary>
internal static class TrainingRun
{
    public const string TaskKey = "lru.task";
    public const string SettingsKey = "lru.training_settings";

    /// <summary>The task name of a run on the user's own arrays (lru train --inputs).</summary>
    public const string UserDataTask = "user-data";

    /// <summary>The metadata key of a user-data run's <see cref="DataRecord"/> (job, standardisation, best epoch).</summary>
    public const string DataKey = "lru.data";

    public static Dictionary<string, string> Metadata(string task, TrainingSettings settings) => new()
    {
        [TaskKey] = task,
        [SettingsKey] = JsonSerializer.Serialize(settings, ConfigJson.Options),
    };

    public static string TaskFrom(IReadOnlyDictionary<string, string> metadata) =>
        metadata.TryGetValue(TaskKey, out var task) ? task
            : throw new InvalidDataException($"The checkpoint has no '{TaskKey}' entry: it was not written by lru train; pass --task.");

    public static TrainingSettings SettingsFrom(IReadOnlyDictionary<string, string> metadata)
    {
        if (!metadata.TryGetValue(SettingsKey, out var json))
            throw new InvalidDataException($"The checkpoint has no '{SettingsKey}' entry: it was not written by lru train.");
        try
        {
            // Format-1 settings also hold the LRU's sizes flat beside their Block; those copies are ignored.
            var node = JsonNode.Parse(json) as JsonObject ?? throw new JsonException("not a JSON object");
            return node.Deserialize<TrainingSettings>(ConfigJson.Options)
                ?? throw new InvalidDataException($"The checkpoint's '{SettingsKey}' entry is empty.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"The checkpoint's '{SettingsKey}' entry is not valid: {e.Message}", e);
        }
    }
}
