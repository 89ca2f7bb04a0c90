"""Peer (d): PyTorch eager, the training loop every PyTorch tutorial writes.

The models are the workloads in ``torch.nn`` with the Keras defaults nnc
uses where PyTorch's differ (batchnorm momentum 0.01 in PyTorch's convention
and eps 1e-3, layernorm eps 1e-3, Adam eps 1e-7); images are NCHW, the
layout PyTorch's convolutions expect (converted once, before timing). The
training tensors stay in memory; each epoch draws ``randperm``, indexes one
batch per step, and runs ``zero_grad``, forward, ``backward``, ``step``; the
summed loss is read once per epoch.

``nn.LSTM`` keeps two bias vectors (``b_ih`` and ``b_hh``, cuDNN's layout)
where Keras and nnc keep one: W3 has 256 more parameters here, the same
function. The models use PyTorch's own initialisation; only speed is compared.
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.peers.base import PeerUnavailable, Startup, timed_start


def import_torch() -> Any:
    """PyTorch, or :class:`PeerUnavailable`."""
    try:
        import torch
    except ImportError as exc:
        raise PeerUnavailable(
            f"torch is not installed ({exc}); pip install -e .[bench]"
        ) from None
    return torch


def build_model(key: str) -> Any:
    """The ``torch.nn.Module`` of workload ``key`` (outputs logits or values)."""
    from torch import nn

    if key == "w1":
        return nn.Sequential(
            nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
            nn.Linear(256, 10),
        )  # fmt: skip
    if key == "w2":
        return nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(1024, 128), nn.ReLU(), nn.Linear(128, 10),
        )  # fmt: skip
    if key == "w4":
        return _resnet()
    if key in ("w3", "w5"):
        return _module_classes()["Forecaster" if key == "w3" else "Transformer"]()
    raise KeyError(key)


def _module_classes() -> dict[str, type]:
    """The few modules ``torch.nn`` lacks, defined once torch is imported."""
    import torch
    from torch import nn

    class Forecaster(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(1, 64, batch_first=True)
            self.dense = nn.Linear(64, 1)

        def forward(self, x):
            _, (h, _) = self.lstm(x)
            return self.dense(h[-1])

    class ConvBN(nn.Sequential):
        def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1):
            super().__init__(
                nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, bias=False),
                nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01),
                nn.ReLU(),
            )

    class Bottleneck(nn.Module):
        def __init__(self, cin: int, filters: int, stride: int = 1,
                     project: bool = False):  # fmt: skip
            super().__init__()
            self.body = nn.Sequential(
                ConvBN(cin, filters, 1, stride),
                ConvBN(filters, filters, 3),
                nn.Conv2d(filters, 4 * filters, 1, bias=False),
                nn.BatchNorm2d(4 * filters, eps=1e-3, momentum=0.01),
            )
            self.shortcut = nn.Identity()
            if project:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(cin, 4 * filters, 1, stride, bias=False),
                    nn.BatchNorm2d(4 * filters, eps=1e-3, momentum=0.01),
                )

        def forward(self, x):
            return torch.relu(self.body(x) + self.shortcut(x))

    class Encoder(nn.Module):
        def __init__(self, dim: int = 64, heads: int = 4, hidden: int = 128):
            super().__init__()
            self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)
            self.norm1 = nn.LayerNorm(dim, eps=1e-3)
            self.ffn = nn.Sequential(
                nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, dim)
            )
            self.norm2 = nn.LayerNorm(dim, eps=1e-3)

        def forward(self, x):
            h = self.norm1(x + self.attention(x, x, x, need_weights=False)[0])
            return self.norm2(h + self.ffn(h))

    class Transformer(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(1000, 64)
            self.positions = nn.Parameter(torch.empty(64, 64))
            nn.init.xavier_uniform_(self.positions)
            self.blocks = nn.Sequential(Encoder(), Encoder())
            self.dense = nn.Linear(64, 2)

        def forward(self, ids):
            x = self.blocks(self.embedding(ids) + self.positions)
            return self.dense(x.mean(dim=1))

    return {
        "Forecaster": Forecaster,
        "ConvBN": ConvBN,
        "Bottleneck": Bottleneck,
        "Transformer": Transformer,
    }


def _resnet() -> Any:
    from torch import nn

    c = _module_classes()
    return nn.Sequential(
        c["ConvBN"](3, 32),
        c["Bottleneck"](32, 16, project=True),
        c["Bottleneck"](64, 16),
        c["Bottleneck"](64, 32, stride=2, project=True),
        c["Bottleneck"](128, 32),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(128, 10),
    )


def count_params(model: Any) -> int:
    """Parameters plus batchnorm running statistics (Keras' total count)."""
    stats = sum(
        b.numel()
        for name, b in model.named_buffers()
        if name.endswith(("_mean", "_var"))
    )
    return sum(p.numel() for p in model.parameters()) + stats


class TorchTrainer:
    """An eager training loop over in-memory tensors."""

    def __init__(self, task: Any, device: str):
        self.torch = import_torch()
        if device == "gpu" and not self.torch.cuda.is_available():
            raise PeerUnavailable(f"torch {self.torch.__version__} has no CUDA device")
        self.device = "cuda" if device == "gpu" else "cpu"
        self.task = task
        self._last = float("nan")

    def start(self) -> Startup:
        def cold() -> str:
            torch, task = self.torch, self.task
            x = torch.from_numpy(task.x)
            if x.ndim == 4:  # NHWC -> NCHW
                x = x.permute(0, 3, 1, 2).contiguous()
            y = torch.from_numpy(task.y)
            y = y.float() if task.loss == "mse" else y.long()
            self.x, self.y = x.to(self.device), y.to(self.device)
            self.model = build_model(task.workload.key).to(self.device)
            if task.precision == "bf16":
                self.model = self.model.to(torch.bfloat16)
                if self.x.is_floating_point():
                    self.x = self.x.to(torch.bfloat16)
            self.model.train()
            self.opt = torch.optim.Adam(self.model.parameters(), lr=task.lr, eps=1e-7)
            self.loss_fn = (
                torch.nn.MSELoss()
                if task.loss == "mse"
                else torch.nn.CrossEntropyLoss()
            )
            self._epoch(first_step_from=t0)
            return f"{torch.get_num_threads()} threads" if self.device == "cpu" else ""

        t0 = time.perf_counter()
        startup = timed_start(cold)
        startup.compile_s = None
        startup.first_step_s = self._first_step_s
        return startup

    def autocast(self) -> Any:
        mixed = self.task.precision == "mixed"
        return self.torch.autocast(self.device, self.torch.bfloat16, enabled=mixed)

    def run_epochs(self, k: int) -> float:
        start = time.perf_counter()
        for _ in range(k):
            self._epoch()
        return time.perf_counter() - start

    def _epoch(self, first_step_from: float | None = None) -> None:
        """One epoch; with ``first_step_from``, time the first step from then."""
        torch, task = self.torch, self.task
        perm = torch.randperm(len(self.x), device=self.device)
        total = torch.zeros((), device=self.device)
        for i in range(task.steps):
            idx = perm[i * task.batch : (i + 1) * task.batch]
            self.opt.zero_grad(set_to_none=True)
            with self.autocast():  # precision = mixed: bf16 compute, f32 weights
                out = self.model(self.x[idx])
            loss = self.loss_fn(out.float(), self.y[idx])
            loss.backward()
            self.opt.step()
            total += loss.detach()
            if first_step_from is not None and i == 0:
                float(total)  # wait for the step (a no-op on the CPU)
                self._first_step_s = time.perf_counter() - first_step_from
        self._last = float(total) / task.steps

    def last_loss(self) -> float:
        return self._last

    def close(self) -> None:
        self.model = self.opt = None


def make(task: Any, device: str) -> TorchTrainer:
    """Peer (d) for ``task``; :class:`PeerUnavailable` without torch or its device."""
    return TorchTrainer(task, device)
