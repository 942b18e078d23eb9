"""The deep linear network: initialisation, the full-batch GD step, and its observables.

State: a tuple of D weight matrices (W_1, ..., W_D), W_1 (N2, N1), W_l (N2, N2) for
1 < l < D, W_D (N3, N2); the network maps x to W x with the product W = W_D ... W_1.

Loss (the convention used everywhere in this world):

    L = 1/(2P) ||Y - W_D ... W_1 X||_F^2 = 1/2 ||W_T - W||_F^2     (whitened X, Y = W_T X)

and one update is W_l <- W_l - lr dL/dW_l. With tau = 1 / lr, update k sits at time
t = k in units of the time constant's inverse: t / tau = lr k, the time of the paper's
gradient flow tau dW_l/dt = -dL/dW_l (Saxe et al. Eqs. 1-2 for D = 2; Eq. numbers
unverified).

Consts (one run's, see teacher.run_consts): {"U" (N3, r), "s" (r,), "V" (N1, r),
"X" (N1, P), "Y" (N3, P)}.
"""

from __future__ import annotations

from functools import reduce

import jax
import jax.numpy as jnp
import numpy as np

from learndyn.linear.teacher import orthonormal_columns

# keeps the alignment cosines finite for a layer that is exactly zero on a mode
_TINY = 1e-30


def product(Ws) -> jax.Array:
    """(N3, N1) W = W_D ... W_1 of the layers (W_1, ..., W_D)."""
    return reduce(lambda acc, W: W @ acc, Ws[1:], Ws[0])


def init_balanced(rng: np.random.Generator, U, V, depth: int, N2: int, a0: float) -> tuple:
    """The decoupled balanced initialisation (Saxe et al. Sec. 2): with c = a0^(1/D) and
    random orthonormal (N2, r) hidden bases R_1 .. R_{D-1} drawn from `rng`,

        W_1 = R_1 diag(c) V^T,   W_l = R_l diag(c) R_{l-1}^T,   W_D = U diag(c) R_{D-1}^T,

    so that W = U diag(a0) V^T: each teacher mode has strength a0 and every layer carries
    it equally. Gradient descent keeps this form (each update changes only c, per mode), so
    the run is the reduced map of theory.reduced_map exactly. numpy float64 (see teacher)."""
    r = U.shape[1]
    c = np.full(r, a0 ** (1.0 / depth))
    Rs = [orthonormal_columns(rng, N2, r) for _ in range(depth - 1)]
    ins = [V] + Rs          # the basis each layer reads from
    outs = Rs + [U]         # the basis each layer writes to
    return tuple((o * c) @ i.T for i, o in zip(ins, outs))


def init_random(rng: np.random.Generator, depth: int, N1: int, N2: int, N3: int,
                scale: float) -> tuple:
    """Small random layers: i.i.d. N(0, scale^2 / fan_in) entries (numpy float64)."""
    dims = [N1] + [N2] * (depth - 1) + [N3]
    return tuple(scale / np.sqrt(dims[l]) * rng.standard_normal((dims[l + 1], dims[l]))
                 for l in range(depth))


def loss(Ws, consts) -> jax.Array:
    """1/(2P) ||Y - W X||_F^2 on the run's data."""
    X, Y = consts["X"], consts["Y"]
    return 0.5 * jnp.sum((Y - product(Ws) @ X) ** 2) / X.shape[1]


def make_step(lr: float):
    """step(state, t, consts) -> (state, loss): one full-batch GD update of every layer; the
    loss returned is the loss before the update."""
    def step(Ws, t, consts):
        value, grads = jax.value_and_grad(loss)(Ws, consts)
        return tuple(W - lr * g for W, g in zip(Ws, grads)), value
    return step


def observe(Ws, consts) -> dict:
    """Observables of one run (r = number of teacher modes):

    loss: 1/(2P) ||Y - W X||^2;
    strength (r,): a_i = u_i^T W v_i, each teacher mode's strength in the product;
    align_in (r,): cos(v_i, W_1^T W_1 v_i), 1 exactly when v_i is a right singular vector of
        the first layer (a degenerate singular value does not spoil it);
    align_out (r,): cos(u_i, W_D W_D^T u_i), the same for the last layer's left singular
        vectors and u_i;
    product_norm: ||W||_F;
    off_mode: ||W - U diag(a) V^T||_F, the product outside the teacher's mode diagonal (so
        that loss = 1/2 sum_i (s_i - a_i)^2 + 1/2 off_mode^2 on whitened data).
    """
    U, V = consts["U"], consts["V"]
    W = product(Ws)
    a = jnp.einsum("ni,nm,mi->i", U, W, V)
    h = Ws[0] @ V                    # (N2, r): W_1 v_i
    g = Ws[-1].T @ U                 # (N2, r): W_D^T u_i
    align_in = jnp.sum(h * h, 0) / (jnp.linalg.norm(Ws[0].T @ h, axis=0) + _TINY)
    align_out = jnp.sum(g * g, 0) / (jnp.linalg.norm(Ws[-1] @ g, axis=0) + _TINY)
    return {"loss": loss(Ws, consts), "strength": a, "align_in": align_in,
            "align_out": align_out, "product_norm": jnp.linalg.norm(W),
            "off_mode": jnp.linalg.norm(W - (U * a) @ V.T)}


OBS_DIMS = {"strength": ("mode",), "align_in": ("mode",), "align_out": ("mode",)}
