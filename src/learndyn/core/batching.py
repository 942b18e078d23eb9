"""How a function written for ONE run is computed for a batch of runs.

`runs_in_groups(fn, group)` is `fn` whose vmap over runs takes them `group` at a time: each
group vmapped, the groups one after another (`lax.map`). The values are those of a plain
vmap; what changes is the working set: on a CPU a run's (or a small group's) arrays stay in
cache, where one batched computation over every run streams them all through memory. It is
what a world passes as the trainer's `run_map`, and what its own batched pieces use.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

__all__ = ["runs_in_groups"]


def runs_in_groups(fn: Callable, group: int | Callable[[int], int]) -> Callable:
    """fn(*args) for one run, whose vmap over runs maps `group` runs at a time (an int, or a
    function of the number of runs); an argument (or leaf) without the run axis is shared by
    all runs. Same values as plain vmap. A group of 1 maps even a single run (unbatched
    code: a vmap of one run still makes XLA:CPU use batched kernels); a group at least as
    large as the batch is a plain vmap."""

    @jax.custom_batching.custom_vmap
    def one(*args):
        return fn(*args)

    @one.def_vmap
    def batched(axis_size, in_batched, *args):
        g = group(axis_size) if callable(group) else group
        if 1 < g and axis_size <= g:
            axes = [jax.tree_util.tree_map(lambda b: 0 if b else None, b) for b in in_batched]
            out = jax.vmap(fn, in_axes=tuple(axes))(*args)
        else:
            # shared leaves (the step index, say) get the run axis too
            args = tuple(jax.tree_util.tree_map(
                lambda x, b: x if b else jnp.broadcast_to(x, (axis_size,) + jnp.shape(x)), a, b)
                for a, b in zip(args, in_batched))
            # (lax.map's batch_size vmaps inside each group, even a group of one)
            out = jax.lax.map(lambda a: fn(*a), args, batch_size=g if g > 1 else None)
        return out, jax.tree_util.tree_map(lambda _: True, out)

    return one
