"""Per-run PRNG keys from a recipe's seeds: the one derivation every world uses.

A recipe with ``seed = s`` and ``seeds = n`` runs the seeds s, s + 1, ..., s + n - 1. The run
labelled seed k (the records' ``seed`` coordinate) uses the key

    run_key(k) = fold_in(PRNGKey(0), k)

which depends on k alone: it is exactly the key of the run that ``seed = k, seeds = 1`` gives,
so any member of a batch can be reproduced by itself (up to float32 rounding that depends on
the batch size; see tests/test_seeds.py). A batch starting at seed 0 has the keys
fold_in(PRNGKey(0), i) that every seed-0 recipe used before this module existed, so their
numbers are unchanged. ``fold_in`` takes its data as a uint32, so a seed lies in
0 .. SEED_MAX = 2**32 - 1 (the recipes check ``seed`` and ``seed + seeds - 1`` against it).

jax is imported inside the functions: the recipe schemas import SEED_MAX, and validating a
recipe (``learndyn list``) should not load jax.
"""

from __future__ import annotations

import numpy as np

SEED_MAX = 2**32 - 1  # fold_in's data is a uint32


def seed_labels(seed: int, n: int) -> np.ndarray:
    """The seeds seed .. seed + n - 1 of a batch of ``n`` runs (the records' coordinate)."""
    seed, n = int(seed), int(n)
    if n < 1 or seed < 0 or seed + n - 1 > SEED_MAX:
        raise ValueError(f"seeds {seed}..{seed + n - 1} are outside 0..{SEED_MAX} "
                         "(or the batch is empty)")
    return np.arange(seed, seed + n, dtype=np.int64)


def run_keys(seed: int, n: int):
    """(n, 2) uint32 keys of the runs labelled seed .. seed + n - 1; row i is
    run_key(seed + i)."""
    import jax

    base = jax.random.PRNGKey(0)
    labels = seed_labels(seed, n).astype(np.uint32)
    return jax.vmap(lambda k: jax.random.fold_in(base, k))(labels)


def run_key(seed: int):
    """The key of the run labelled ``seed``: fold_in(PRNGKey(0), seed)."""
    return run_keys(seed, 1)[0]
