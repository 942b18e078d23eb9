"""learndyn: learning as a coupled dynamical system."""

import os as _os
import sys as _sys

# float32 products stay float32 on every backend: JAX's default lets a GPU use TF32 (10-bit
# mantissa), which would make GPU and CPU runs of one recipe differ by far more than rounding.
# Set JAX_DEFAULT_MATMUL_PRECISION to choose otherwise. JAX reads the variable when it is
# imported, so importing learndyn does not import JAX (the CLI starts without it).
if "JAX_DEFAULT_MATMUL_PRECISION" not in _os.environ:
    if "jax" in _sys.modules:
        _sys.modules["jax"].config.update("jax_default_matmul_precision", "highest")
    else:
        _os.environ["JAX_DEFAULT_MATMUL_PRECISION"] = "highest"
