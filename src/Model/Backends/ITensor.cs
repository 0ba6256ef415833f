namespace ArTar.Backends;

/// <summary>
/// An opaque handle to a buffer owned by a backend (managed memory on the CPU, device memory on the GPU),
/// of the backend's element type, or of int for token tensors. Host access is explicit: <see cref="IBackend.Upload"/>,
/// <see cref="IBackend.Download"/>. Views (arena parameters) do not own their memory; disposing them does nothing.
/// </summary>
public interface ITensor : IDisposable
{
    /// <summary>Number of elements.</summary>
    long Length { get; }
}

/// <summary>
/// What an RNN layer forward leaves for its backward (cuDNN's reserve space, our copies of the inputs and
/// activations on the CPU), sized for up to <c>maxSteps</c> × <c>batch</c> rows. Owned by the backend.
/// </summary>
public interface IRnnReserve : IDisposable
{
    int Layer { get; }
    int MaxSteps { get; }
    int Batch { get; }
}
