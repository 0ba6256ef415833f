#!/usr/bin/env python3
"""PyTorch (cuDNN) reference for ArTar's GPU training throughput: the model and training step of docs/design.md §1.

Embedding E (V×H) tied to the decoder, input dropout, one nn.LSTM/GRU/RNN per layer with our dropout between layers
(not variational), output dropout, z = o·Eᵀ + c; loss = CE + α·mean(o²) + β·mean((h[t+1] − h[t])²) (AR on the dropped
output o, TAR on the undropped last layer, inside the window); clip_grad_norm_, SGD with weight decay (no momentum).
Random ids from a fixed seed; median over timed steps after warm-up, each step closed by torch.cuda.synchronize().
Prints one JSON object: tokens/s of a training step and of an evaluation step.
--max-seconds caps the timed loops (the GPU check has a budget): training stops after 60% of it, evaluation at
all of it, each after at least one timed step; "steps"/"eval_steps" are the steps timed, "capped" says whether it cut.

    python3 tools/pytorch_reference.py --config config/ptb-650.json [--vocab 10000] [--steps 30] [--eval-steps 30] [--warmup 5]
                                       [--max-seconds 60]
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Model(nn.Module):
    def __init__(self, cell, vocab, hidden, layers, dropout, dropout_h):
        super().__init__()
        self.encoder = nn.Parameter(torch.empty(vocab, hidden).uniform_(-0.1, 0.1))
        self.bias = nn.Parameter(torch.zeros(vocab))
        kind = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell]
        # PyTorch's default init of a recurrent layer is U(-1/√H, 1/√H), as docs/design.md §1 asks.
        self.layers = nn.ModuleList([kind(hidden, hidden) for _ in range(layers)])
        self.dropout, self.dropout_h, self.cell = dropout, dropout_h, cell

    def forward(self, x, state):
        h = F.dropout(F.embedding(x, self.encoder), self.dropout, self.training)
        new_state = []
        for l, rnn in enumerate(self.layers):
            if l > 0:
                h = F.dropout(h, self.dropout_h, self.training)
            h, s = rnn(h, state[l])
            new_state.append(s)
        o = F.dropout(h, self.dropout, self.training)
        return o, h, new_state

    def zero_state(self, batch, device):
        hidden = self.encoder.shape[1]
        z = lambda: torch.zeros(1, batch, hidden, device=device)
        return [(z(), z()) if self.cell == "lstm" else z() for _ in self.layers]


def detach(state):
    return [tuple(t.detach() for t in s) if isinstance(s, tuple) else s.detach() for s in state]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--config", required=True)
    p.add_argument("--vocab", type=int, default=10000)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--eval-steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--max-seconds", type=float, default=60.0)
    a = p.parse_args()
    started = time.perf_counter()
    over = lambda share: time.perf_counter() - started > share * a.max_seconds
    capped = False
    with open(a.config) as f:
        c = json.load(f)
    if not torch.cuda.is_available():
        print(json.dumps({"skipped": "torch.cuda.is_available() is False"}))
        return 0
    dev = torch.device("cuda")
    torch.backends.cudnn.enabled = True
    torch.backends.cuda.matmul.allow_tf32 = False   # FP32 like our backend (cuBLAS default math, cuDNN FP32)
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(c.get("seed", 1111))
    cell, H, L = c.get("model", "lstm"), c["hidden"], c.get("layers", 2)
    B, T, E = c.get("batch_size", 20), c.get("bptt", 35), c.get("eval_batch_size", 10)
    alpha, beta, clip = c.get("alpha", 0.0), c.get("beta", 0.0), c.get("clip", 0.25)
    model = Model(cell, a.vocab, H, L, c.get("dropout", 0.0), c.get("dropout_h", 0.0)).to(dev)
    sgd = torch.optim.SGD(model.parameters(), lr=c.get("lr", 20), weight_decay=c.get("wdecay", 0.0))

    n_train, n_eval = a.warmup + a.steps, a.warmup + a.eval_steps
    train_stream = torch.randint(a.vocab, (n_train * T + 1, B), device=dev)
    eval_stream = torch.randint(a.vocab, (n_eval * T + 1, E), device=dev)

    model.train()
    state = model.zero_state(B, dev)
    train_ms, first_loss = [], None
    for k in range(n_train):
        if train_ms and over(0.6):
            capped = True
            break
        x, y = train_stream[k * T:(k + 1) * T], train_stream[k * T + 1:(k + 1) * T + 1]
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        state = detach(state)   # truncated BPTT: no gradient crosses a window
        o, last, state = model(x, state)
        ce = F.cross_entropy(F.linear(o.reshape(-1, H), model.encoder, model.bias), y.reshape(-1))
        loss = ce + alpha * o.pow(2).mean()                                         # AR
        if T > 1:
            loss = loss + beta * (last[1:] - last[:-1]).pow(2).mean()               # TAR
        sgd.zero_grad(set_to_none=False)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        sgd.step()
        ce_value = ce.item()   # the trainer reads the loss each step, as ours does
        torch.cuda.synchronize()
        ms = (time.perf_counter() - t0) * 1000
        if k == 0:
            first_loss = ce_value
        if k >= a.warmup:
            train_ms.append(ms)

    model.eval()
    state = model.zero_state(E, dev)
    eval_ms = []
    with torch.no_grad():
        for k in range(n_eval):
            if eval_ms and over(1.0):
                capped = True
                break
            x, y = eval_stream[k * T:(k + 1) * T], eval_stream[k * T + 1:(k + 1) * T + 1]
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            o, _, state = model(x, state)
            F.cross_entropy(F.linear(o.reshape(-1, H), model.encoder, model.bias), y.reshape(-1)).item()
            torch.cuda.synchronize()
            if k >= a.warmup:
                eval_ms.append((time.perf_counter() - t0) * 1000)

    tm, em = statistics.median(train_ms), statistics.median(eval_ms)
    print(json.dumps({
        "torch": torch.__version__, "cudnn": torch.backends.cudnn.version(), "device": torch.cuda.get_device_name(0),
        "train_tokens_per_sec": B * T / (tm / 1000), "eval_tokens_per_sec": E * T / (em / 1000),
        "train_ms_per_step": tm, "eval_ms_per_step": em, "train_ms_min": min(train_ms), "train_ms_max": max(train_ms),
        "steps": len(train_ms), "eval_steps": len(eval_ms), "warmup": a.warmup, "first_loss": first_loss,
        "capped": capped, "max_seconds": a.max_seconds,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
