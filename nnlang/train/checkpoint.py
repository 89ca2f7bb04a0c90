"""Checkpoints of a run (orbax-checkpoint) and the saved weights of a model.

A run directory holds::

    checkpoints/<global step>/   the loop's whole state, for --resume:
        state/   {"carry": Carry(TrainState, sums, pos, bad), "best": variables}
        meta/    JSON: epoch, steps done in it, history rows, early-stopping
                 tracker, the fusion choice
    variables/   the final variables (best epoch's when restored), for
                 predict, eval and ``init_from``

Restoring uses the freshly initialised loop state as the target, so optax
states come back as their NamedTuples and the run continues bit for bit.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

CHECKPOINTS = "checkpoints"
VARIABLES = "variables"

logging.getLogger("absl").setLevel(logging.WARNING)
# A run killed while saving leaves an unfinished checkpoint, which orbax removes on
# the next save with a raw "not finalized" warning; resuming from the last finished
# one is the expected path, not news.
logging.getLogger("absl").addFilter(
    lambda record: "not finalized" not in record.getMessage())


def checkpoint_dir(path: str | Path) -> Path:
    """The checkpoints folder of a run directory (or ``path`` if it is one)."""
    path = Path(path).absolute()
    return path if path.name == CHECKPOINTS else path / CHECKPOINTS


class Checkpointer:
    """Saves and restores the loop state of one run.

    Args:
        run_dir: the run directory; checkpoints go in ``run_dir/checkpoints``.
        keep: how many checkpoints to keep (oldest deleted first).
    """

    def __init__(self, run_dir: str | Path, *, keep: int = 3):
        self.directory = checkpoint_dir(run_dir)
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
        self.manager = ocp.CheckpointManager(self.directory, options=options)

    def save(self, step: int, tree: Any, meta: dict[str, Any]) -> Path:
        """Save ``tree`` and JSON ``meta`` as checkpoint ``step`` (replacing one)."""
        if step in self.manager.all_steps():
            self.manager.wait_until_finished()
            self.manager.delete(step)
        # The save is asynchronous: snapshot ``meta`` now, or rows the loop
        # appends meanwhile (it passes its live history) end up in this step.
        meta = json.loads(json.dumps(meta))
        args = ocp.args.Composite(
            state=ocp.args.StandardSave(tree), meta=ocp.args.JsonSave(meta)
        )
        self.manager.save(step, args=args, force=True)
        return self.directory / str(step)

    def latest(self) -> Path | None:
        """The newest checkpoint's folder, or None."""
        self.manager.wait_until_finished()
        step = self.manager.latest_step()
        return None if step is None else self.directory / str(step)

    def restore(
        self, target: Any, step: int | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """The tree (structured like ``target``) and meta of ``step`` (default newest).

        Raises:
            FileNotFoundError: there is no checkpoint.
        """
        self.manager.wait_until_finished()
        step = self.manager.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
        args = ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()
        )
        restored = self.manager.restore(step, args=args)
        return restored["state"], dict(restored["meta"])

    def close(self) -> None:
        """Wait for pending writes and release the manager."""
        self.manager.wait_until_finished()
        self.manager.close()


def has_checkpoint(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` holds at least one loop checkpoint."""
    directory = checkpoint_dir(run_dir)
    return directory.is_dir() and any(p.name.isdigit() for p in directory.iterdir())


def save_variables(run_dir: str | Path, variables: Any) -> Path:
    """Write the model's variables to ``run_dir/variables`` (overwriting)."""
    path = Path(run_dir).absolute() / VARIABLES
    with ocp.StandardCheckpointer() as ckptr:
        ckptr.save(path, jax.device_get(variables), force=True)
    return path


def load_variables(path: str | Path) -> dict[str, Any]:
    """Variables saved by :func:`save_variables` (``path`` a run dir or the folder).

    Falls back to the newest loop checkpoint's parameters when the run has no
    ``variables`` folder yet (an interrupted run).

    Raises:
        FileNotFoundError: neither is there.
    """
    path = Path(path).absolute()
    folder = path if path.name == VARIABLES else path / VARIABLES
    if folder.is_dir():
        with ocp.StandardCheckpointer() as ckptr:
            return dict(ckptr.restore(folder))
    if has_checkpoint(path):
        manager = ocp.CheckpointManager(checkpoint_dir(path))
        step = manager.latest_step()
        args = ocp.args.Composite(state=ocp.args.StandardRestore())
        state = manager.restore(step, args=args)["state"]
        manager.close()
        train_state = state["carry"][0]
        params = (
            train_state["params"] if isinstance(train_state, dict) else train_state[1]
        )
        extra = (
            train_state["model_state"]
            if isinstance(train_state, dict)
            else train_state[2]
        )
        return {"params": params, **(extra or {})}
    raise FileNotFoundError(f"no saved weights in {path}")


def merge_variables(target: Any, source: Any) -> tuple[Any, int, int]:
    """Copy leaves of ``source`` into ``target`` where path and shape match.

    Returns:
        The merged tree, the number of leaves copied and of leaves in target.
    """
    copied = 0
    total = 0

    def pick(path, leaf):
        nonlocal copied, total
        total += 1
        node: Any = source
        for key in path:
            name = getattr(key, "key", getattr(key, "name", None))
            if not isinstance(node, dict) or name not in node:
                return leaf
            node = node[name]
        if np.shape(node) != np.shape(leaf):
            return leaf
        copied += 1
        return jax.numpy.asarray(node, dtype=leaf.dtype)

    merged = jax.tree_util.tree_map_with_path(pick, target)
    return merged, copied, total
