"""A model or batch too large for the machine, as the user's mistake: one detector
(:func:`is_out_of_memory`) and one message (:func:`out_of_memory_error`), for
``nnc run`` with the model at hand and for ``nnc``'s last resort without it."""

from __future__ import annotations

from nnlang.diagnostics import NnError, error
from nnlang.ir import Graph


def is_out_of_memory(exc: BaseException) -> bool:
    """XLA's allocation failure (``JaxRuntimeError: RESOURCE_EXHAUSTED``)."""
    return "RESOURCE_EXHAUSTED" in str(exc) or isinstance(exc, MemoryError)


def memory_of_machine() -> tuple[int | None, str]:
    """The memory the model's arrays live in, in bytes, and its name: the
    accelerator's when JAX runs on one, else the machine's RAM (None: unknown)."""
    import os

    import jax

    device = jax.devices()[0]
    if device.platform != "cpu":
        limit = (device.memory_stats() or {}).get("bytes_limit")
        return limit, f"{device.platform.upper()} memory"
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "memory"
    except (ValueError, OSError, AttributeError):
        return None, "memory"


OUT_OF_MEMORY_HINT = ("make the model smaller (fewer units or filters; a conv or pooling "
                      "before a dense layer), or lower batch if a batch's activations are "
                      "the excess; nnc summary FILE shows each layer's parameters")


def out_of_memory_error(graph: Graph | None, exc: BaseException | None = None
                        ) -> NnError:
    """Too large a model or batch as the user's mistake, not a bug.

    With the model at hand, its parameters' size against the machine's memory
    (training needs about four times the parameters: weights, gradients and two
    Adam moments, plus the activations of a batch). Without it (``nnc``'s last
    resort, the failure caught far from the model), XLA's own first line.
    """
    if graph is None:
        reason = _allocation_failure(exc) if exc is not None else ""
        return NnError(error("out-of-memory",
                             f"out of memory: {reason or 'an allocation failed'}",
                             hint=OUT_OF_MEMORY_HINT))
    from nnlang.summary import format_bytes, summarize

    summary = summarize(graph)
    total = summary.total
    memory, where = memory_of_machine()
    has = f"; this machine has {format_bytes(memory)} of {where}" if memory else ""
    largest = max(summary.rows, key=lambda r: r.params, default=None)
    node = next((n for n in graph.nodes if largest and n.name == largest.name), None)
    notes = [f"the largest layer, {largest.name}, has {largest.params:,} parameters"
             ] if largest and largest.params else []
    return NnError(error(
        "out-of-memory", f"model '{graph.name}' does not fit in memory: its {total:,} "
                         f"parameters take {format_bytes(4 * total)} as float32 (about "
                         f"{format_bytes(16 * total)} to train with adam){has}",
        node.span if node else graph.span, notes=notes, hint=OUT_OF_MEMORY_HINT))


def _allocation_failure(exc: BaseException) -> str:
    """The first line of XLA's message after ``RESOURCE_EXHAUSTED:`` (the rest is
    XLA's internals), or the exception's own text."""
    text = str(exc)
    if "RESOURCE_EXHAUSTED:" in text:
        text = text.partition("RESOURCE_EXHAUSTED:")[2]
    return text.strip().split("\n")[0]


def check_fits_in_memory(graph: Graph) -> None:
    """Refuse, before allocating anything, a model whose parameters alone exceed
    the machine's memory: allocating it may get the process killed, not raise."""
    from nnlang.summary import summarize

    memory, _ = memory_of_machine()
    if memory and 4 * summarize(graph).total > memory:
        raise out_of_memory_error(graph)
