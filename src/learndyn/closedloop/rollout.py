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
# Forward, for t = 0 .. T-1, with the batch as rows (H: (B, N), X: (B, nx)):
#     U_t = H_t W_out^T,  X_{t+1} = f(X_t, U_t),  I_{t+1} = g(X_{t+1}, R_{t+1})
#     P_t = H_t W^T + I_{t+1} W_in^T,  H_{t+1} = phi(P_t)   (or H_t + a (-H_t + phi(P_t)))
# Reverse (adjoints a_*; the plant, observation/input and loss are differentiated with jax.vjp):
#     D_t = a_H_{t+1} * phi'(P_t)  (times a for the leaky RNN)
#     a_X_{t+1} += vjp_g(D_t W_in),  (a_X_t, a_U_t) = vjp_f(a_X_{t+1}) + direct loss terms
#     a_H_t = D_t W + a_U_t W_out  (+ (1 - a) a_H_{t+1})
# Only the (B, N) @ (N, N) product D_t W stays inside the reverse loop; the weight gradients
#     dW = sum_t D_t^T H_t,  dW_in = sum_t D_t^T I_{t+1},  dW_out = sum_t a_U_t^T H_t
# are each one large matmul over all (t, b) after it, where autodiff of the scan would
# accumulate an (N, N) outer product in every reverse step.

_FAST_KEYS = frozenset({"W", "W_in", "W_out"})
SCAN_UNROLL = 1


_DPHI_FROM_OUTPUT = {  # phi'(p) as a function of y = phi(p)
    "tanh": lambda y: (1.0 + y) * (1.0 - y),
    "relu": lambda y: (y > 0).astype(y.dtype),
}


def _has_fast_path(agent, params) -> bool:
    from learndyn.closedloop.agents import RNNAgent
    return isinstance(agent, RNNAgent) and isinstance(params, dict) and set(params) == _FAST_KEYS


def _unroll(T: int) -> int:
    return max(1, min(SCAN_UNROLL, T))


def _batched_loss(agent, plant, task, params, x0, ref):
    phi, leak, act_name = agent.phi, agent.leak, agent.activation
    # phi'(P_t): 1 for a linear RNN; for the discrete tanh / relu RNN it is a function of
    # phi(P_t) = H_{t+1}, which the reverse pass already has; otherwise it is stored.
    if act_name == "linear":
        dphi_mode = "one"
    elif leak is None and act_name in _DPHI_FROM_OUTPUT:
        dphi_mode = "output"
    else:
        dphi_mode = "stored"
    step_f = jax.vmap(plant.step)

    def input_fn(x1, r):
        return jax.vmap(lambda x, rr: task.agent_input(plant.observe(x), rr))(x1, r)

    def loss_fn(xs, us, rf):  # time-major xs (T+1, B, nx), us (T, B, nu), rf (T+1, B, nr)
        return jnp.mean(jax.vmap(task.episode_loss, in_axes=(1, 1, 1))(xs, us, rf))

    n = agent.n

    def forward(p, x0, rt):
        W_cat = jnp.concatenate([p["W"], p["W_in"]], axis=1)  # (N, N + n_in)
        W_out = p["W_out"]
        h0 = jnp.zeros((x0.shape[0], n), x0.dtype)

        def body(carry, r_next):
            x, h = carry
            u = h @ W_out.T
            x1 = step_f(x, u)
            hi = jnp.concatenate([h, input_fn(x1, r_next)], axis=1)  # [h_t, I_{t+1}]
            pre = hi @ W_cat.T
            if dphi_mode == "stored":
                act, dphi = jax.jvp(phi, (pre,), (jnp.ones_like(pre),))
            else:
                act, dphi = phi(pre), None
            h1 = act if leak is None else h + leak * (-h + act)
            return (x1, h1), (x1, u, hi, dphi)

        (_, hT), (xs, us, his, dphis) = jax.lax.scan(
            body, (x0, h0), rt[1:], unroll=_unroll(rt.shape[0] - 1))
        xs = jnp.concatenate([x0[None], xs])
        return xs, us, his, hT, dphis  # his[t] = [h_t, I_{t+1}], t = 0 .. T-1

    @jax.custom_vjp
    def loss(p, x0, rt):
        xs, us, _, _, _ = forward(p, x0, rt)
        return loss_fn(xs, us, rt)

    def loss_fwd(p, x0, rt):
        xs, us, his, hT, dphis = forward(p, x0, rt)
        return loss_fn(xs, us, rt), (p, xs, us, his, hT, dphis, rt)

    def loss_bwd(res, g):
        p, xs, us, his, hT, dphis, rt = res
        W_cat = jnp.concatenate([p["W"], p["W_in"]], axis=1)
        W_out = p["W_out"]
        _, vjp_loss = jax.vjp(loss_fn, xs, us, rt)
        gxs, gus, grt = vjp_loss(g)

        def body(carry, s):
            # adjoint of x_{t+1} (partial), adjoint of h_{t+1}, h_{t+1}, gradient sums
            ax1, ah1, h1, dW_cat, dW_out = carry
            x, u, hi, x1, r1, dphi, gx, gu = s
            if dphi_mode == "one":
                d = ah1
            elif dphi_mode == "output":
                d = ah1 * _DPHI_FROM_OUTPUT[act_name](h1)
            else:
                d = ah1 * dphi
            if leak is not None:
                d = leak * d
            a_hi = d @ W_cat                      # (B, N + n_in): [via h_t, via I_{t+1}]
            dW_cat = dW_cat + d.T @ hi
            _, vjp_in = jax.vjp(input_fn, x1, r1)
            ax1_in, ar1 = vjp_in(a_hi[:, n:])
            _, vjp_f = jax.vjp(step_f, x, u)
            ax, au = vjp_f(ax1 + ax1_in)
            au = au + gu
            h = hi[:, :n]
            dW_out = dW_out + au.T @ h
            ah = a_hi[:, :n] + au @ W_out
            if leak is not None:
                ah = ah + (1.0 - leak) * ah1
            return (ax + gx, ah, h, dW_cat, dW_out), ar1

        T = us.shape[0]
        carry0 = (gxs[T], jnp.zeros_like(hT), hT, jnp.zeros_like(W_cat), jnp.zeros_like(W_out))
        (ax0, _, _, dW_cat, dW_out), ar1s = jax.lax.scan(
            body, carry0, (xs[:-1], us, his, xs[1:], rt[1:], dphis, gxs[:-1], gus),
            reverse=True, unroll=_unroll(T))
        grt = grt.at[1:].add(ar1s)
        return {"W": dW_cat[:, :n], "W_in": dW_cat[:, n:], "W_out": dW_out}, ax0, grt

    loss.defvjp(loss_fwd, loss_bwd)
    return loss(params, x0, jnp.swapaxes(ref, 0, 1))
