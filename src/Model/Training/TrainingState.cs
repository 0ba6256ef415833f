using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using ArTar.Checkpoints;

namespace ArTar.Training;

/// <summary>
/// Where a run stands: with the fixed data order, this record, the weights and (mid-epoch) the carried hidden state are
/// everything a resumed run needs to repeat the uninterrupted one. It travels as ONE typed JSON entry of a checkpoint's
/// metadata (<see cref="MetadataKey"/>), so no counter is written or parsed by hand.
/// </summary>
public sealed record TrainingState
{
    /// <summary>The metadata key of the JSON entry.</summary>
    public const string MetadataKey = "training";

    /// <summary>Epochs completed (1 after the first).</summary>
    public required int Epoch { get; init; }

    /// <summary>Windows done in the current epoch (0 at an epoch's end).</summary>
    public required int Window { get; init; }

    /// <summary>Training steps done in the run: the counter of the next step's dropout masks.</summary>
    public required long Step { get; init; }

    /// <summary>The learning rate of the next step (after the last epoch's annealing).</summary>
    public required double Lr { get; init; }

    /// <summary>The best validation cross-entropy so far (nats per token); +∞ before the first evaluation.</summary>
    public required double BestValidLoss { get; init; }

    /// <summary>The epoch whose model is best.safetensors (0 before the first evaluation).</summary>
    public required int BestEpoch { get; init; }

    /// <summary>Training wall time so far, so a resumed run's summary reports the whole run.</summary>
    public required double Seconds { get; init; }

    /// <summary>Σ CE·rows over the current epoch's windows so far (the epoch's train perplexity).</summary>
    public required double EpochCeSum { get; init; }

    /// <summary>The rows those windows held.</summary>
    public required long EpochRows { get; init; }

    /// <summary>The state a run starts in.</summary>
    public static TrainingState Start(double lr) => new()
    {
        Epoch = 0, Window = 0, Step = 0, Lr = lr, BestValidLoss = double.PositiveInfinity, BestEpoch = 0,
        Seconds = 0, EpochCeSum = 0, EpochRows = 0,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Reads the entry back; a missing field, a wrong type or a value no run can reach is one <see cref="CheckpointException"/> line.</summary>
    public static TrainingState FromJson(string json, string path)
    {
        TrainingState? state;
        try
        {
            state = JsonSerializer.Deserialize<TrainingState>(json, Json);
        }
        catch (JsonException e)
        {
            throw new CheckpointException(path, $"its metadata '{MetadataKey}' is not a training state ({Quote.Excerpt(e.Message, 80)}); the file is damaged, so it cannot be resumed");
        }
        if (state is null)
            throw new CheckpointException(path, $"its metadata '{MetadataKey}' is empty; the file is damaged, so it cannot be resumed");
        return state.Checked(path);
    }

    /// <summary>The range of every counter: none may be negative, the rates and losses are finite numbers (the best loss may be +∞).</summary>
    public TrainingState Checked(string path)
    {
        string? why =
            Epoch < 0 ? $"epoch {Epoch}" :
            Window < 0 ? $"window {Window}" :
            Step < 0 ? $"step {Step}" :
            !(double.IsFinite(Lr) && Lr > 0) ? $"lr {Invariant(Lr)}" :
            !(BestValidLoss >= 0) || double.IsNegativeInfinity(BestValidLoss) ? $"best_valid_loss {Invariant(BestValidLoss)}" :
            BestEpoch < 0 || BestEpoch > Epoch ? $"best_epoch {BestEpoch} (epoch {Epoch})" :
            (BestEpoch == 0) != double.IsPositiveInfinity(BestValidLoss) ? $"best_epoch {BestEpoch} with best_valid_loss {Invariant(BestValidLoss)}" :
            !(double.IsFinite(Seconds) && Seconds >= 0) ? $"seconds {Invariant(Seconds)}" :
            !(double.IsFinite(EpochCeSum) && EpochCeSum >= 0) ? $"epoch_ce_sum {Invariant(EpochCeSum)}" :
            EpochRows < 0 || (EpochRows == 0) != (Window == 0) ? $"epoch_rows {EpochRows} (window {Window})" :
            null;
        return why is null ? this
            : throw new CheckpointException(path, $"its training state has {why}, which no run reaches; the file is damaged, so it cannot be resumed");
    }

    private static string Invariant(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        // +∞ (no evaluation yet) has no JSON number: it is written as the string "Infinity".
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };
}
