namespace Lru.Models;

/// <summary>What the decoder of a <see cref="SequenceModel{T}"/> predicts.</summary>
public enum OutputKind
{
    /// <summary>Class logits, trained with softmax cross-entropy.</summary>
    Classification = 0,

    /// <summary>Real-valued targets, trained with mean squared error.</summary>
    Regression = 1,

    /// <summary>Independent yes/no outputs (multi-label logits), trained with binary cross-entropy.</summary>
    MultiLabel = 2,
}
