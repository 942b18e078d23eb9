"""learndyn: learning as a coupled dynamical system."""

import os as _os

import jax as _jax

# float32 products stay float32 on every backend: JAX's default lets a GPU use TF32 (10-bit
# mantissa), which would make GPU and CPU runs of one recipe differ by far more than rounding.
# Set JAX_DEFAULT_MATMUL_PRECISION to choose otherwise.
if "JAX_DEFAULT_MATMUL_PRECISION" not in _os.environ:
    _jax.config.update("jax_default_matmul_precision", "highest")
