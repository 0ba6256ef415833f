namespace ArTar;

/// <summary>The recurrent cell of every layer (config key <c>model</c>).</summary>
public enum CellType
{
    /// <summary>LSTM, gates i,f,g,o (4 gate blocks).</summary>
    Lstm,
    /// <summary>GRU, gates r,z,n (3 gate blocks).</summary>
    Gru,
    /// <summary>Elman RNN with tanh (1 block).</summary>
    Rnn,
}

public static class CellTypeExtensions
{
    /// <summary>G of docs/design.md §2: the number of H-sized gate blocks in weight_ih/weight_hh.</summary>
    public static int Gates(this CellType cell) => cell switch
    {
        CellType.Lstm => 4,
        CellType.Gru => 3,
        CellType.Rnn => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(cell)),
    };

    public static string ConfigName(this CellType cell) => cell switch
    {
        CellType.Lstm => "lstm",
        CellType.Gru => "gru",
        _ => "rnn",
    };
}
