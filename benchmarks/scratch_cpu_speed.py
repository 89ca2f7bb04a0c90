"""Scratch A/B: nnc's compiled training vs hand-written Flax+Optax and PyTorch eager.

Times one training epoch of each variant, interleaved in one process (the
variants alternate in a shuffled order each round, so background load on the
shared 2-core machine hits them alike), and prints medians and ratios
``baseline_time / variant_time`` (> 1: the variant is faster).

Usage::

    python benchmarks/scratch_cpu_speed.py w2 w3 [--rounds 15] [--nnc VARIANT=k:v,...]

nnc variants: ``step`` (a Python loop of the jitted step) and ``fused`` (one
``lax.while_loop`` epoch). Extra nnc variants can be built under other lowering
settings with ``--nnc NAME=conv:xla`` (see :data:`nnlang.layers.flaxops.TUNING`).
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

HERE = Path(__file__).parent
Epoch = Callable[[], None]


# ---------------------------------------------------------------- nnc


def nnc_variants(workload: str, tuning: dict[str, str], tag: str) -> dict[str, Epoch]:
    """Per-step and fused epochs of nnc's compiled step, warmed up (compiled)."""
    from nnlang.layers import flaxops
    from nnlang.lower import CompiledModel
    from nnlang.run import prepare
    from nnlang.train.setup import build_setup
    from nnlang.train.step import epoch_order, fresh_carry

    saved = dict(flaxops.TUNING)
    flaxops.TUNING.update(tuning)
    try:
        prep = prepare(HERE / f"scratch_{workload}.nn")
        model = CompiledModel(prep.graph)
        setup = build_setup(model, prep.data, prep.config)
        steps, batch = setup.steps, setup.batch
        order = jax.device_put(epoch_order(setup.shuffle_key, 0, setup.n_train, steps * batch))
        box = [fresh_carry(setup.state, setup.zero_sums)]

        def per_step() -> None:
            c = fresh_carry(box[0].state, setup.zero_sums)
            for _ in range(steps):
                c = setup.fns.step(c, setup.train, order)
            jax.block_until_ready(c)
            box[0] = c

        def fused() -> None:
            c = fresh_carry(box[0].state, setup.zero_sums)
            c = setup.fns.epoch(c.state, setup.train, order, steps)
            jax.block_until_ready(c)
            box[0] = c

        per_step()
        fused()  # compile both under this tuning
    finally:
        flaxops.TUNING.clear()
        flaxops.TUNING.update(saved)
    return {f"nnc{tag}-step": per_step, f"nnc{tag}-fused": fused}


# ---------------------------------------------------------------- hand-written Flax


class FlaxCNN(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Conv(32, (3, 3), padding="SAME")(x))
        x = nn.relu(nn.Conv(64, (3, 3), padding="SAME")(x))
        x = nn.max_pool(x, (2, 2), (2, 2))
        x = x.reshape(x.shape[0], -1)
        x = nn.relu(nn.Dense(128)(x))
        return nn.Dense(10)(x)


class FlaxLSTM(nn.Module):
    @nn.compact
    def __call__(self, x):
        h = nn.RNN(nn.OptimizedLSTMCell(64))(x)[:, -1]
        return nn.Dense(1)(h)


def flax_variant(workload: str) -> dict[str, Epoch]:
    """A hand-written Flax+Optax loop: one jitted step per batch, donated state,
    host-side shuffle and batch slicing, loss kept on the device."""
    from nnlang.run import prepare

    prep = prepare(HERE / f"scratch_{workload}.nn")
    x = np.asarray(prep.data.train.x, np.float32)
    y = np.asarray(prep.data.train.y)
    batch, lr = prep.config.batch, (1e-3 if workload == "w2" else 3e-3)
    module = FlaxCNN() if workload == "w2" else FlaxLSTM()
    params = module.init(jax.random.key(0), x[:1])
    tx = optax.adam(lr)
    state = [(params, tx.init(params))]

    def loss_fn(p, xb, yb):
        out = module.apply(p, xb)
        if workload == "w2":
            return optax.softmax_cross_entropy_with_integer_labels(out, yb).mean()
        return jnp.mean((out - yb) ** 2)

    @jax.jit
    def _step(st, xb, yb):
        p, o = st
        loss, g = jax.value_and_grad(loss_fn)(p, xb, yb)
        u, o = tx.update(g, o, p)
        return (optax.apply_updates(p, u), o), loss

    step = jax.jit(_step, donate_argnums=0)
    rng = np.random.default_rng(0)

    def epoch() -> None:
        idx = rng.permutation(len(x))
        st, loss = state[0], None
        for lo in range(0, len(x), batch):
            b = idx[lo : lo + batch]
            st, loss = step(st, x[b], y[b])
        jax.block_until_ready(loss)
        state[0] = st

    epoch()
    return {"flax": epoch}


# ---------------------------------------------------------------- PyTorch eager


def torch_variant(workload: str) -> dict[str, Epoch]:
    import torch
    from torch import nn as tnn

    from nnlang.run import prepare

    prep = prepare(HERE / f"scratch_{workload}.nn")
    x = torch.tensor(np.asarray(prep.data.train.x, np.float32))
    y = torch.tensor(np.asarray(prep.data.train.y))
    batch = prep.config.batch
    torch.manual_seed(0)
    if workload == "w2":
        x = x.permute(0, 3, 1, 2).contiguous()
        y = y.long()
        model = tnn.Sequential(
            tnn.Conv2d(1, 32, 3, padding=1), tnn.ReLU(),
            tnn.Conv2d(32, 64, 3, padding=1), tnn.ReLU(),
            tnn.MaxPool2d(2), tnn.Flatten(),
            tnn.Linear(1024, 128), tnn.ReLU(), tnn.Linear(128, 10),
        )  # fmt: skip
        loss_fn = tnn.CrossEntropyLoss()
        lr = 1e-3
    else:

        class Net(tnn.Module):
            def __init__(self):
                super().__init__()
                self.lstm = tnn.LSTM(1, 64, batch_first=True)
                self.out = tnn.Linear(64, 1)

            def forward(self, s):
                return self.out(self.lstm(s)[0][:, -1])

        model, loss_fn, lr = Net(), tnn.MSELoss(), 3e-3
    opt = torch.optim.Adam(model.parameters(), lr=lr)

    def epoch() -> None:
        perm = torch.randperm(len(x))
        for lo in range(0, len(x), batch):
            b = perm[lo : lo + batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[b]), y[b])
            loss.backward()
            opt.step()

    epoch()
    return {"torch": epoch}


# ---------------------------------------------------------------- harness


def interleave(
    variants: dict[str, Epoch], rounds: int
) -> dict[str, tuple[float, float]]:
    """(median, min) seconds per epoch, variants alternating in a shuffled order."""
    times: dict[str, list[float]] = {k: [] for k in variants}
    names = list(variants)
    shuffler = random.Random(0)
    for _ in range(rounds):
        shuffler.shuffle(names)
        for name in names:
            start = time.perf_counter()
            variants[name]()
            times[name].append(time.perf_counter() - start)
    return {k: (statistics.median(v), min(v)) for k, v in times.items()}


def parse_tuning(items: list[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for item in items:
        tag, _, spec = item.partition("=")
        out[tag] = dict(kv.split(":", 1) for kv in spec.split(",") if kv)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("workloads", nargs="+")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--nnc", action="append", default=[])
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--skip", default="", help="regex of variant names to drop")
    args = parser.parse_args()
    tunings = {"": {}, **parse_tuning(args.nnc)}
    for workload in args.workloads:
        variants: dict[str, Epoch] = {}
        for tag, tuning in tunings.items():
            variants.update(nnc_variants(workload, tuning, tag and f"[{tag}]"))
        variants.update(flax_variant(workload))
        if not args.no_torch:
            variants.update(torch_variant(workload))
        if args.skip:
            variants = {
                k: v for k, v in variants.items() if not re.search(args.skip, k)
            }
        med = interleave(variants, args.rounds)
        base, best = med["flax"]
        print(f"== {workload}: ms/epoch over {args.rounds} rounds: median (min)")
        for name, (t, m) in sorted(med.items(), key=lambda kv: kv[1]):
            vs_torch = ""
            if "torch" in med:
                vs_torch = (
                    f"  torch {med['torch'][0] / t:5.2f}x ({med['torch'][1] / m:5.2f}x)"
                )
            print(
                f"{name:>24} {t * 1e3:8.1f} ({m * 1e3:7.1f})  flax {base / t:5.2f}x "
                f"({best / m:5.2f}x){vs_torch}"
            )


if __name__ == "__main__":
    main()
