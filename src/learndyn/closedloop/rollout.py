"""Rollouts of agent and plant: closed loop, and open loop on given inputs.

Order inside one step (Ger & Barak): the agent has read the current observation and emits
u_t, the cost is taken on (x_t, u_t), then the plant steps. h_0 = 0, so u_0 = W_out h_0 = 0.

    u_t     = W_out h_t
    x_{t+1} = plant.step(x_t, u_t)
    h_{t+1} = agent.step(h_t, input(C x_{t+1}, r_{t+1}))
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from learndyn.core.batching import runs_in_groups


def closed_loop(agent, params, plant, task, x0, ref):
    """One episode in closed loop. x0: (nx,), ref: (T + 1, nr).

    Returns xs (T + 1, nx), us (T, nu), hs (T + 1, N) and ys (T + 1, ny) (the observations the
    agent read; ys[0] is the initial observation, which h_0 = 0 has not read yet).
    """
    h0 = jnp.zeros((agent.n,), x0.dtype)

    def body(carry, r_next):
        x, h = carry
        u = agent.readout(params, h)
        x1 = plant.step(x, u)
        y1 = plant.observe(x1)
        h1 = agent.step(params, h, task.agent_input(y1, r_next))
        return (x1, h1), (x1, u, h1, y1)

    _, (xs, us, hs, ys) = jax.lax.scan(body, (x0, h0), ref[1:])
    xs = jnp.concatenate([x0[None], xs])
    hs = jnp.concatenate([h0[None], hs])
    ys = jnp.concatenate([plant.observe(x0)[None], ys])
    return xs, us, hs, ys


def open_loop(agent, params, inputs):
    """The agent driven by given inputs (no plant). inputs: (T, n_in) -> us (T, nu).

    us[t] = W_out h_t with h_0 = 0 and h_{t+1} = step(h_t, inputs[t]), the same timing as in
    closed loop (the input read at step t + 1 is the observation that followed u_t).
    """
    h0 = jnp.zeros((agent.n,), inputs.dtype)

    def body(h, inp):
        u = agent.readout(params, h)
        return agent.step(params, h, inp), u

    _, us = jax.lax.scan(body, h0, inputs)
    return us


def closed_loop_loss(agent, params, plant, task, x0, ref):
    """Mean over the batch of the task's episode loss in closed loop. x0: (B, nx).

    Same numbers (up to float rounding) as the mean of `task.episode_loss` over per-episode
    `closed_loop` rollouts. For a full-rank RNN agent the batch is rolled out as one (B, N)
    state with (B, N) @ (N, N) products and the gradient is a hand-written BPTT (see
    `_batched_loss`); any other agent takes the per-episode reference path.
    """
    if _has_fast_path(agent, params):
        return _batched_loss(agent, plant, task, params, x0, ref)
    return _reference_loss(agent, params, plant, task, x0, ref)


def _reference_loss(agent, params, plant, task, x0, ref):
    def one(x, r):
        xs, us, _, _ = closed_loop(agent, params, plant, task, x, r)
        return task.episode_loss(xs, us, r)
    return jnp.mean(jax.vmap(one)(x0, ref))


# -- the batched closed-loop loss with a hand-written reverse pass ----------------------------
#
# The whole batch is one state, kept transposed (H^T: (N, B), a column per episode, so that
# every large product is a fast "NN" or "NT" matmul; the row layout needs a slow "TN" one):
#     U_t = (W_out H_t^T)^T,  X_{t+1} = f(X_t, U_t),  I_{t+1} = g(X_{t+1}, R_{t+1})
#     Z_t^T = [H_t^T; I_{t+1}^T],  P_t^T = [W, W_in] Z_t^T  (one matmul),
#     H_{t+1} = phi(P_t)   or   H_t + a (-H_t + phi(P_t))  (leaky)
# Reverse (adjoints a_*; the plant, the observation/input map and the loss are differentiated
# with jax.vjp, so any plant and task work):
#     D_t = a_H_{t+1} * phi'(P_t)  (times a if leaky),   [a_H_t; a_I_{t+1}] = [W, W_in]^T D_t
#     a_X_{t+1} += vjp_g(a_I_{t+1}),   (a_X_t, a_U_t) = vjp_f(a_X_{t+1}) + direct loss terms
#     a_H_t += a_U_t W_out  (+ (1 - a) a_H_{t+1} if leaky)
#     d[W, W_in] += D_t Z_t,   dW_out += a_U_t^T H_t
# Compared with autodiff of the scan this stores only Z_t (plus phi'(P_t) where it is not a
# function of H_{t+1}), merges the W and W_in products, and keeps the gradient sums in the
# loop carry (in cache; one large matmul over all (t, b) after the loop measured slower).
# The loss is a scalar, so the forward pass computes the gradient right away (with cotangent
# 1) and the VJP only scales it: the reverse pass of a run follows its forward pass while
# the stored states are still in cache.
#
# Runs vmapped together (seeds, hyper-parameters: the trainer's run axis) are computed one
# run (or a small group) after another (`core.batching.runs_in_groups`): each run's working
# set then stays in cache, where the batched (R, N, N) x (R, N, B) products ran at half the
# speed.
# Forward-mode differentiation (jax.jvp) of closed_loop_loss is not supported on this path
# (custom_vjp); reverse mode, vmap and jit are.

_FAST_KEYS = frozenset({"W", "W_in", "W_out"})
SCAN_UNROLL = 1           # lax.scan unroll of the time loops (measured: no gain on CPU)
CACHE_BYTES = 512 * 1024  # working-set budget per group of runs computed together

_DPHI_FROM_OUTPUT = {  # phi'(p) as a function of y = phi(p)
    "tanh": lambda y: (1.0 + y) * (1.0 - y),
    "relu": lambda y: (y > 0).astype(y.dtype),
}


def _has_fast_path(agent, params) -> bool:
    from learndyn.closedloop.agents import RNNAgent
    return (isinstance(agent, RNNAgent) and isinstance(params, dict)
            and set(params) == _FAST_KEYS)


def _unroll(T: int) -> int:
    return max(1, min(SCAN_UNROLL, T))


def _batched_loss(agent, plant, task, params, x0, ref):
    phi, leak, act_name, n = agent.phi, agent.leak, agent.activation, agent.n
    # phi'(P_t): 1 for a linear RNN; for the discrete tanh / relu RNN a function of
    # phi(P_t) = H_{t+1}, which the reverse pass has; otherwise stored by the forward pass.
    if act_name == "linear":
        dphi_mode = "one"
    elif leak is None and act_name in _DPHI_FROM_OUTPUT:
        dphi_mode = "output"
    else:
        dphi_mode = "stored"
    step_f = jax.vmap(plant.step)
    B = x0.shape[0]

    def group_size(n_runs):
        per_run = 4 * (n * (n + agent.n_in + agent.n_out) + 6 * B * (n + agent.n_in))
        g_max = max(1, CACHE_BYTES // per_run)
        return max(d for d in range(1, min(g_max, n_runs) + 1) if n_runs % d == 0)

    def input_fn(x1, r):
        return jax.vmap(lambda x, rr: task.agent_input(plant.observe(x), rr))(x1, r)

    def loss_fn(xs, us, rf):  # time-major xs (T+1, B, nx), us (T, B, nu), rf (T+1, B, nr)
        return jnp.mean(jax.vmap(task.episode_loss, in_axes=(1, 1, 1))(xs, us, rf))

    def forward(p, x0, rt):
        W_cat = jnp.concatenate([p["W"], p["W_in"]], axis=1)  # (N, N + n_in)
        W_out = p["W_out"]
        hc0 = jnp.zeros((n, x0.shape[0]), x0.dtype)  # H_0^T

        def body(carry, r_next):
            x, hc = carry
            u = (W_out @ hc).T
            x1 = step_f(x, u)
            zc = jnp.concatenate([hc, input_fn(x1, r_next).T], axis=0)  # Z_t^T
            pre = W_cat @ zc
            if dphi_mode == "stored":
                act, dphi = jax.jvp(phi, (pre,), (jnp.ones_like(pre),))
            else:
                act, dphi = phi(pre), None
            hc1 = act if leak is None else hc + leak * (-hc + act)
            return (x1, hc1), (x1, u, zc, dphi)

        (_, hcT), (xs, us, zcs, dphis) = jax.lax.scan(
            body, (x0, hc0), rt[1:], unroll=_unroll(rt.shape[0] - 1))
        xs = jnp.concatenate([x0[None], xs])
        return loss_fn(xs, us, rt), (xs, us, zcs, hcT, dphis)

    def backward(p, rt, xs, us, zcs, hcT, dphis, g):
        W_cat = jnp.concatenate([p["W"], p["W_in"]], axis=1)
        W_catT = W_cat.T  # (N + n_in, N), transposed once, outside the loop
        W_out = p["W_out"]
        _, vjp_loss = jax.vjp(loss_fn, xs, us, rt)
        gxs, gus, grt = vjp_loss(g)

        def body(carry, s):
            # partial adjoint of x_{t+1}, adjoint of H_{t+1}^T, H_{t+1}^T, gradient sums
            ax1, ahc1, hc1, dW_cat, dW_outT = carry
            x, u, zc, x1, r1, dphi, gx, gu = s
            if dphi_mode == "one":
                dc = ahc1
            elif dphi_mode == "output":
                dc = ahc1 * _DPHI_FROM_OUTPUT[act_name](hc1)
            else:
                dc = ahc1 * dphi
            if leak is not None:
                dc = leak * dc
            a_zc = W_catT @ dc                    # [a_H_t^T (recurrent part); a_I_{t+1}^T]
            dW_cat = dW_cat + dc @ zc.T
            _, vjp_in = jax.vjp(input_fn, x1, r1)
            ax1_in, ar1 = vjp_in(a_zc[n:].T)
            _, vjp_f = jax.vjp(step_f, x, u)
            ax, au = vjp_f(ax1 + ax1_in)
            au = au + gu
            hc = zc[:n]
            dW_outT = dW_outT + hc @ au
            ahc = a_zc[:n] + W_out.T @ au.T
            if leak is not None:
                ahc = ahc + (1.0 - leak) * ahc1
            return (ax + gx, ahc, hc, dW_cat, dW_outT), ar1

        T = us.shape[0]
        carry0 = (gxs[T], jnp.zeros_like(hcT), hcT, jnp.zeros_like(W_cat),
                  jnp.zeros_like(W_out.T))
        (ax0, _, _, dW_cat, dW_outT), ar1s = jax.lax.scan(
            body, carry0, (xs[:-1], us, zcs, xs[1:], rt[1:], dphis, gxs[:-1], gus),
            reverse=True, unroll=_unroll(T))
        grt = grt.at[1:].add(ar1s)
        return {"W": dW_cat[:, :n], "W_in": dW_cat[:, n:], "W_out": dW_outT.T}, ax0, grt

    def value_and_grads(p, x0, rt):
        # The loss is a scalar, so its VJP is g * (gradient at g = 1): the reverse pass runs
        # right after the forward pass of the same run (its stored states still in cache)
        # and only the gradients are kept for `loss_bwd`.
        value, res = forward(p, x0, rt)
        return value, backward(p, rt, *res, jnp.ones_like(value))

    loss_only = runs_in_groups(lambda p, x0, rt: forward(p, x0, rt)[0], group_size)
    value_and_grads = runs_in_groups(value_and_grads, group_size)

    @jax.custom_vjp
    def loss(p, x0, rt):
        return loss_only(p, x0, rt)

    def loss_fwd(p, x0, rt):
        return value_and_grads(p, x0, rt)

    def loss_bwd(grads, g):
        return jax.tree_util.tree_map(lambda a: (g * a).astype(a.dtype), grads)

    loss.defvjp(loss_fwd, loss_bwd)
    return loss(params, x0, jnp.swapaxes(ref, 0, 1))
