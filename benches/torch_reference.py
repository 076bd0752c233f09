#!/usr/bin/env python3
"""PyTorch eager reference for `cargo bench --bench gpt_throughput`.

Trains the same byte-level GPT as src/objective/gpt/model.rs (token + position
embeddings, pre-norm blocks with packed-qkv causal attention and a tanh-GELU MLP, final
layer norm, untied head; AdamW betas (0.9, 0.99), weight decay 0.1 on matrices, grad clip
1.0) on configs A and B with batch 16, and prints ms/step and tokens/s:

- one trial with torch.set_num_threads(2) (the issue's reference numbers), and
- one trial on one thread, with its thread CPU time per step (robust to other load), and
- machine-wide: one single-thread trial per core in separate processes.

Usage: python3 benches/torch_reference.py [--steps 20] [--config B] [--skip-two-threads]
       python3 benches/torch_reference.py --device cuda [--steps 50]

With `--device cuda` it trains one trial per config (A, B and the larger C) on the GPU,
synchronising before reading the clock, next to `cargo bench --features cuda --bench
gpt_throughput -- --device cuda`.

`--config` limits the run to one config; `--skip-two-threads` drops the 2-thread trial
(on a loaded 2-core machine its spinning workers make it take minutes and mean little).
"""
import argparse
import math
import multiprocessing as mp
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIGS = {
    "A": dict(depth=2, width=64, heads=4, context=64, batch=16),
    "B": dict(depth=4, width=128, heads=4, context=128, batch=16),
    # GPU only: about 11M parameters.
    "C": dict(depth=6, width=384, heads=6, context=256, batch=16),
}


class Block(nn.Module):
    def __init__(self, c, heads):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(c)
        self.qkv = nn.Linear(c, 3 * c)
        self.out = nn.Linear(c, c)
        self.norm2 = nn.LayerNorm(c)
        self.fc = nn.Linear(c, 4 * c)
        self.proj = nn.Linear(4 * c, c)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(c, dim=2)
        q = q.view(b, t, self.heads, c // self.heads).transpose(1, 2)
        k = k.view(b, t, self.heads, c // self.heads).transpose(1, 2)
        v = v.view(b, t, self.heads, c // self.heads).transpose(1, 2)
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(c // self.heads)
        mask = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)
        p = scores.masked_fill(mask, float("-inf")).softmax(-1)
        a = (p @ v).transpose(1, 2).reshape(b, t, c)
        x = x + self.out(a)
        return x + self.proj(F.gelu(self.fc(self.norm2(x)), approximate="tanh"))


class Gpt(nn.Module):
    def __init__(self, depth, width, heads, context):
        super().__init__()
        self.token = nn.Embedding(256, width)
        self.position = nn.Parameter(torch.randn(context, width) * 0.02)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, 256, bias=False)

    def forward(self, ids):
        x = self.token(ids) + self.position[: ids.shape[1]]
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))


def time_trial(name, steps, threads, seed=0, cpu_time=False, device="cpu"):
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    cfg = CONFIGS[name]
    model = Gpt(cfg["depth"], cfg["width"], cfg["heads"], cfg["context"]).to(device)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
        lr=3e-3, betas=(0.9, 0.99), eps=1e-8,
    )
    b, t = cfg["batch"], cfg["context"]
    data = torch.randint(0, 256, (steps + 2, b, t + 1), device=device)
    sync = torch.cuda.synchronize if device != "cpu" else (lambda: None)

    def step(i):
        x, y = data[i, :, :-1], data[i, :, 1:]
        loss = F.cross_entropy(model(x).reshape(-1, 256), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    for i in range(2):
        step(i)
    sync()
    start = time.perf_counter()
    cpu = time.thread_time()
    for i in range(steps):
        step(i + 2)
    sync()
    if cpu_time:
        return (time.perf_counter() - start) / steps, (time.thread_time() - cpu) / steps
    return (time.perf_counter() - start) / steps


def _worker(args):
    return time_trial(*args)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--config", choices=sorted(CONFIGS), help="run only this config")
    ap.add_argument("--skip-two-threads", action="store_true", help="skip the 2-thread trial")
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda / cuda:N")
    args = ap.parse_args()
    if args.device != "cpu":
        print(f"torch {torch.__version__} eager on {args.device} ({torch.cuda.get_device_name(args.device)}, {args.steps} timed steps)")
        for name, cfg in CONFIGS.items():
            if args.config and name != args.config:
                continue
            tokens = cfg["batch"] * cfg["context"]
            s = time_trial(name, args.steps, 1, device=args.device)
            print(f"config {name}: single trial {s * 1e3:.2f} ms/step {tokens / s:.0f} tok/s")
        return
    cores = os.cpu_count() or 2
    print(f"torch {torch.__version__} eager reference ({args.steps} timed steps, {cores} cores)")
    for name, cfg in CONFIGS.items():
        if (args.config and name != args.config) or (not args.config and name == "C"):
            continue
        tokens = cfg["batch"] * cfg["context"]
        single = float("nan") if args.skip_two_threads else time_trial(name, args.steps, 2)
        one, one_cpu = time_trial(name, args.steps, 1, cpu_time=True)
        ctx = mp.get_context("spawn")
        with ctx.Pool(cores) as pool:
            wide = pool.map(_worker, [(name, args.steps, 1, s) for s in range(cores)])
        wide_tps = sum(tokens / s for s in wide)
        print(
            f"config {name}: single trial 2 threads {single * 1e3:.1f} ms/step {tokens / single:.0f} tok/s | "
            f"1 thread {one * 1e3:.1f} ms/step ({one_cpu * 1e3:.1f} CPU-ms/step) | "
            f"machine-wide {cores} x 1-thread trials {sum(wide) / len(wide) * 1e3:.1f} ms/step each, "
            f"{wide_tps:.0f} tok/s total"
        )


if __name__ == "__main__":
    main()
