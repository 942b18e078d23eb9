"""Analysis of the coupled agent + plant system.

coupled_matrix: P, the Jacobian of the joint one-step map s_t = (x_t, h_t) -> s_{t+1} at the
operating point (exact for a linear agent and plant). For the discrete RNN and a linear plant
    P = [[A, B W_out], [phi'(0) W_in C A, phi'(0) (W + W_in C B W_out)]]      (Ger & Barak)
effective_gains: least-squares K with u ~ K x on closed-loop rollouts.
gain_map: the exact loss of the linear policy u = K x over the horizon, and the region
(stable / oscillatory-unstable / real-unstable) from eig(A + B K).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from learndyn.closedloop.rollout import closed_loop

STABLE, OSC_UNSTABLE, REAL_UNSTABLE = 0, 1, 2
REGION_NAMES = {STABLE: "stable", OSC_UNSTABLE: "oscillatory-unstable",
                REAL_UNSTABLE: "real-unstable"}


def joint_map(agent, params, plant, task):
    """The joint one-step map s -> s' of plant + agent with the reference at zero.
    s = concat(x (nx,), h (N,))."""
    nx = plant.nx

    def f(s):
        x, h = s[:nx], s[nx:]
        u = agent.readout(params, h)
        x1 = plant.step(x, u)
        r0 = jnp.zeros((task.n_ref,), s.dtype)
        h1 = agent.step(params, h, task.agent_input(plant.observe(x1), r0))
        return jnp.concatenate([x1, h1])
    return f


def coupled_matrix(agent, params, plant, task) -> jax.Array:
    """P: (nx + N, nx + N), the Jacobian of the joint map at (x*, h = 0)."""
    s0 = jnp.concatenate([jnp.asarray(plant.x_star, jnp.float32), jnp.zeros((agent.n,))])
    return jax.jacfwd(joint_map(agent, params, plant, task))(s0)


def effective_gains(agent, params, plant, task, x0, ref) -> jax.Array:
    """K: (nu, nx), least squares u_t ~ K x_t over closed-loop rollouts from x0 (B, nx),
    using t >= 1 (u_0 = 0 is fixed by h_0 = 0)."""
    xs, us, _, _ = jax.vmap(lambda x, r: closed_loop(agent, params, plant, task, x, r))(x0, ref)
    X = xs[:, 1:-1].reshape(-1, xs.shape[-1])  # x_t, t = 1 .. T-1
    U = us[:, 1:].reshape(-1, us.shape[-1])
    G = X.T @ X + 1e-8 * jnp.eye(X.shape[1], dtype=X.dtype)
    return jnp.linalg.solve(G, X.T @ U).T


def linear_policy_loss(A, B, K, cov0, horizon: int, beta: float, time_reduction: str = "sum"):
    """Exact expected regulation loss of u = K x with x0 ~ (0, cov0):
    sum_t tr((I + beta K^T K) Sigma_t), Sigma_{t+1} = P Sigma_t P^T, P = A + B K."""
    P = A + B @ K
    Q = jnp.eye(A.shape[0]) + beta * K.T @ K

    def body(S, _):
        return P @ S @ P.T, jnp.trace(Q @ S)
    _, costs = jax.lax.scan(body, cov0, None, length=horizon)
    costs = jnp.where(jnp.isfinite(costs), costs, jnp.inf)
    return jnp.sum(costs) if time_reduction == "sum" else jnp.mean(costs)


def region_of(A, B, K) -> jax.Array:
    """STABLE, OSC_UNSTABLE or REAL_UNSTABLE from eig(A + B K)."""
    ev = jnp.linalg.eigvals(A + B @ K)
    i = jnp.argmax(jnp.abs(ev))
    dominant = ev[i]
    stable = jnp.abs(dominant) < 1.0
    osc = jnp.abs(dominant.imag) > 1e-9
    return jnp.where(stable, STABLE, jnp.where(osc, OSC_UNSTABLE, REAL_UNSTABLE))


def gain_map(plant, task, k1: np.ndarray, k2: np.ndarray) -> dict:
    """Loss and region of u = k1 x1 + k2 x2 over a grid, for a linear plant with nx = 2, nu = 1.

    Returns {"loss": (len(k2), len(k1)), "region": (len(k2), len(k1)), "k1", "k2"}.
    """
    A, B, _ = plant.linearize()
    A, B = jnp.asarray(A, jnp.float32), jnp.asarray(B, jnp.float32)
    cov0 = jnp.asarray(task.x0_covariance(), jnp.float32)
    K1, K2 = np.meshgrid(np.asarray(k1, np.float32), np.asarray(k2, np.float32))
    Ks = jnp.stack([K1.ravel(), K2.ravel()], -1)[:, None, :]  # (G, 1, 2)
    loss = jax.jit(jax.vmap(lambda K: linear_policy_loss(
        A, B, K, cov0, task.horizon, task.beta, task.time_reduction)))(Ks)
    region = jax.jit(jax.vmap(lambda K: region_of(A, B, K)))(Ks)
    return {"loss": np.asarray(loss).reshape(K1.shape),
            "region": np.asarray(region).reshape(K1.shape), "k1": np.asarray(k1),
            "k2": np.asarray(k2)}
