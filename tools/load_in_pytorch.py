#!/usr/bin/env python3
"""Loads an ArTar checkpoint into a PyTorch word_language_model RNNModel (tied) and checks it arrived whole.

    python3 tools/load_in_pytorch.py runs/ptb-650-20261126-203005/best.safetensors

Needs only torch (the `safetensors` package is used when installed, else the file is read here by the spec).
The model below has the structure, parameter names and shapes of pytorch/examples word_language_model's
RNNModel(rnn_type, ntoken, ninp=nhid, nhid, nlayers, tie_weights=True); with that file's RNNModel the same
load_state_dict call applies unchanged. See docs/checkpoints.md.
"""
import json
import struct
import sys

import torch
import torch.nn as nn

RNN_TYPES = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN_TANH"}


def read_safetensors(path):
    """(tensors, metadata) of a float32 safetensors file, following the format's spec."""
    try:
        from safetensors.torch import load_file
        from safetensors import safe_open
        with safe_open(path, framework="pt") as f:
            metadata = f.metadata() or {}
        return load_file(path), metadata
    except ImportError:
        pass
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    metadata = header.pop("__metadata__", {})
    data = blob[8 + n:]
    tensors = {}
    for name, info in header.items():
        assert info["dtype"] == "F32", f"{name}: dtype {info['dtype']}"
        begin, end = info["data_offsets"]
        t = torch.frombuffer(bytearray(data[begin:end]), dtype=torch.float32)
        tensors[name] = t.reshape(info["shape"])
    return tensors, metadata


class RNNModel(nn.Module):
    """word_language_model's RNNModel, tied: encoder, rnn, decoder (decoder.weight is encoder.weight)."""

    def __init__(self, rnn_type, ntoken, nhid, nlayers):
        super().__init__()
        self.encoder = nn.Embedding(ntoken, nhid)
        if rnn_type == "RNN_TANH":
            self.rnn = nn.RNN(nhid, nhid, nlayers, nonlinearity="tanh")
        else:
            self.rnn = getattr(nn, rnn_type)(nhid, nhid, nlayers)
        self.decoder = nn.Linear(nhid, ntoken)
        self.decoder.weight = self.encoder.weight


def main(path):
    tensors, meta = read_safetensors(path)
    model = RNNModel(RNN_TYPES[meta["cell"]], int(meta["vocab_size"]), int(meta["hidden"]), int(meta["layers"]))
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    # decoder.weight is absent from the file and tied to encoder.weight, so it is loaded too.
    assert list(missing) == ["decoder.weight"] and list(unexpected) == [], (missing, unexpected)
    assert model.decoder.weight is model.encoder.weight
    state = model.state_dict()
    bits = lambda t: t.contiguous().view(torch.int32)  # bit-exact, NaN payloads included
    for name, t in tensors.items():
        assert torch.equal(bits(state[name]), bits(t)), name
    assert torch.equal(bits(state["decoder.weight"]), bits(tensors["encoder.weight"]))
    print(f"{path}: loaded into RNNModel({RNN_TYPES[meta['cell']]}, ntoken={meta['vocab_size']}, "
          f"nhid={meta['hidden']}, nlayers={meta['layers']}, tied); {len(tensors)} tensors, "
          f"{sum(t.numel() for t in tensors.values())} parameters; missing {list(missing)} (tied), "
          f"unexpected {list(unexpected)}; epoch {meta['epoch']}, step {meta['step']}, lr {meta['lr']}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: load_in_pytorch.py CHECKPOINT.safetensors")
    main(sys.argv[1])
