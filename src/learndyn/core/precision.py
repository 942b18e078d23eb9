"""The matmul precision learndyn computes at, set around its own computations only.

JAX's default matmul precision lets a GPU multiply float32 matrices in TF32 (a 10-bit
mantissa), which would make a GPU run of a recipe differ from a CPU run by far more than
rounding. learndyn's compiled work (a recipe's training and analysis, the benchmarks) runs
inside `float32_matmuls()`, which asks for "highest" (true float32 products) for that block
and thread only: importing learndyn changes no JAX setting, no environment variable, and
nothing outside the block.

A user's own choice wins: when JAX_DEFAULT_MATMUL_PRECISION is set (JAX reads it at import)
or `jax.config.update("jax_default_matmul_precision", ...)` was called, or the caller is
inside its own `jax.default_matmul_precision(...)` block, the block changes nothing.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

PRECISION = "highest"


@contextlib.contextmanager
def float32_matmuls() -> Iterator[None]:
    """Within the block (this thread), float32 matmuls are computed in float32 unless the user
    chose a precision (see the module docstring)."""
    import jax

    if jax.config.jax_default_matmul_precision is not None:
        yield
        return
    with jax.default_matmul_precision(PRECISION):
        yield
