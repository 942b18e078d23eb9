"""The closed-loop loss conventions (issue 19, step 1) against losses computed by hand.

Each convention is checked on a tiny case (N = 3, B = 4, T = 5, float32) against a NumPy loop
written from the definitions: the authors' per-step MSELoss(x_t, 0) (a mean over batch and
state dimensions) plus beta * sum over the batch of u_t^2, summed over time; learndyn's
default per-sample ||x_t||^2 + beta u_t^2; the deployed state cost; the imitation loss.
Tolerance: rtol 1e-5 (float32 sums of ~40 terms of similar size: a few ulps each).
"""

import numpy as np
import pytest

import jax

from learndyn.closedloop.build import build
from learndyn.recipes import load_recipe

RTOL = 1e-5
T, B, N, BETA = 5, 4, 3, 0.3


def _problem(**over):
    base = {"agent.n": N, "train.batch": B, "task.horizon": T, "task.beta": BETA,
            "train.eval_batch": B}
    rcp = load_recipe("gb2025-fig1", "smoke", {**base, **over})
    plant, task, agent, problems = build(rcp)
    return rcp, plant, task, agent, problems


def _rollout(params, x0):
    """x_t (T+1, B, 2) and u_t (T, B) of the double integrator under the RNN, in NumPy, in the
    authors' order: u_0 = 0 (h_0 = 0); the network reads the position x_t[0] and then emits
    u_t = W_out h_t; x_{t+1} = A x_t + B u_t."""
    W, W_in, W_out = (np.asarray(params[k], np.float64) for k in ("W", "W_in", "W_out"))
    x = np.asarray(x0, np.float64)                      # (B, 2)
    h = np.zeros((len(x), W.shape[0]))
    xs, us = [x], []
    for t in range(T):
        if t > 0:
            h = np.tanh(h @ W.T + x[:, :1] @ W_in.T)
        u = (h @ W_out.T)[:, 0]
        us.append(u)
        x = np.stack([x[:, 0] + x[:, 1], x[:, 1] + u], axis=1)
        xs.append(x)
    return np.stack(xs), np.stack(us)


def _params_and_x0(problem, seed=0):
    state, consts = problem.init(jax.random.PRNGKey(seed))
    # larger weights than the recipe's init, so that u is not negligible next to x
    p = {k: v * 40.0 for k, v in state.params.items()}
    x0, ref = problem.task.sample(jax.random.PRNGKey(seed + 1), B)
    return p, x0, ref


def test_authors_convention_is_their_per_step_mse_plus_batch_sum_penalty():
    rcp, *_, problems = _problem()      # gb2025-fig1's default: the reference preset
    assert rcp.preset == "reference"
    prob = problems["closed"]
    p, x0, ref = _params_and_x0(prob)
    xs, us = _rollout(p, x0)
    want = sum(np.mean(xs[t] ** 2) + BETA * np.sum(us[t] ** 2) for t in range(T))
    got = float(prob.task_loss(p, x0, ref))
    assert got == pytest.approx(want, rel=RTOL)
    assert BETA * np.sum(us ** 2) > 1e-2 * want       # the control term weighs in the test
    # the trained objective is that loss itself (batch mean, no factor)
    key = jax.random.PRNGKey(5)
    obj = float(prob.objective(p, None, key))
    x0k, refk = prob.task.sample(key, B)
    assert obj == pytest.approx(float(prob.task_loss(p, x0k, refk)), rel=RTOL)


def test_default_convention_is_the_per_sample_norm_plus_penalty():
    # learndyn's conventions before issue 19: state sum, control mean, batch sum
    *_, problems = _problem(preset="learndyn_v0")
    prob = problems["closed"]
    p, x0, ref = _params_and_x0(prob)
    xs, us = _rollout(p, x0)
    per_sample = (xs[:T] ** 2).sum(axis=(0, 2)) + BETA * (us ** 2).sum(axis=0)   # (B,)
    assert float(prob.task_loss(p, x0, ref)) == pytest.approx(per_sample.mean(), rel=RTOL)
    # batch_reduction = "sum" trains on the batch sum, reports the mean
    assert prob.batch_reduction == "sum"
    key = jax.random.PRNGKey(5)
    x0k, refk = prob.task.sample(key, B)
    assert float(prob.objective(p, None, key)) == pytest.approx(
        B * float(prob.task_loss(p, x0k, refk)), rel=RTOL)


def test_conventions_differ_by_the_factors_they_state():
    # the same rollout under the two conventions: penalty weight per sample 2 * B * beta
    # (authors, against ||x||^2) against beta (default); the factor the brief names
    *_, ref_problems = _problem(**{"task.state_reduction": "mean", "task.control_batch": "sum"})
    *_, def_problems = _problem(preset="learndyn_v0")
    a, d = ref_problems["closed"], def_problems["closed"]
    p, x0, ref = _params_and_x0(a)
    xs, us = _rollout(p, x0)
    state = (xs[:T] ** 2).sum(axis=(0, 2)).mean()
    control = (us ** 2).sum(axis=0).mean()
    assert float(a.task_loss(p, x0, ref)) == pytest.approx(state / 2 + B * BETA * control,
                                                           rel=RTOL)
    assert float(d.task_loss(p, x0, ref)) == pytest.approx(state + BETA * control, rel=RTOL)


@pytest.mark.parametrize("deployed", ["objective", "state_cost"])
def test_deployed_loss(deployed):
    *_, problems = _problem(**{"task.deployed": deployed, "task.state_reduction": "mean",
                               "task.control_batch": "sum"})
    prob = problems["closed"]
    p, x0, ref = _params_and_x0(prob)
    xs, us = _rollout(p, x0)
    got = float(prob.deployed_loss(p, x0, ref))
    if deployed == "state_cost":
        # the authors' test loss: sum over time and state dims of x^2, mean over starts
        want = (xs[:T] ** 2).sum(axis=(0, 2)).mean()
    else:
        want = float(prob.task_loss(p, x0, ref))
    assert got == pytest.approx(want, rel=RTOL)


def test_imitation_loss_is_summed_over_time_and_averaged_over_the_batch():
    *_, problems = _problem()           # the reference preset: batch mean
    prob = problems["open"]
    assert prob.batch_reduction == "mean"
    p, _, _ = _params_and_x0(problems["closed"])
    teacher = {k: v * 1.7 + 0.01 for k, v in p.items()}
    inputs = np.asarray(jax.random.normal(jax.random.PRNGKey(3), (B, T, 1)), np.float64)

    def outputs(q):
        W, W_in, W_out = (np.asarray(q[k], np.float64) for k in ("W", "W_in", "W_out"))
        h, us = np.zeros((B, N)), []
        for t in range(T):              # u_t = W_out h_t, then h reads inputs[t]
            us.append((h @ W_out.T)[:, 0])
            h = np.tanh(h @ W.T + inputs[:, t] @ W_in.T)
        return np.stack(us)
    want = ((outputs(p) - outputs(teacher)) ** 2).sum(axis=0).mean()
    got = float(prob.imitation_loss(p, teacher, np.asarray(inputs, np.float32)))
    assert got == pytest.approx(want, rel=RTOL)


def test_paper_text_student_averages_over_time():
    *_, ref_problems = _problem()
    *_, txt_problems = _problem(preset="paper_text")
    p, _, _ = _params_and_x0(ref_problems["closed"])
    teacher = {k: v * 1.7 + 0.01 for k, v in p.items()}
    inputs = jax.random.normal(jax.random.PRNGKey(3), (B, T, 1))
    summed = float(ref_problems["open"].imitation_loss(p, teacher, inputs))
    averaged = float(txt_problems["open"].imitation_loss(p, teacher, inputs))
    assert averaged == pytest.approx(summed / T, rel=RTOL)


def test_student_trains_its_own_weights():
    # Fig. 6: the closed-loop network trains W and W_out (W_in frozen), its student W_in too
    rcp, plant, task, agent, problems = _problem(**{"agent.trainable": ["W", "W_out"],
                                                    "open_loop.trainable": ["W", "W_in", "W_out"]})
    closed, student = problems["closed"], problems["open"]
    p, _, _ = _params_and_x0(closed)
    assert float(closed.agent.masks(p)["W_in"].max()) == 0.0
    assert float(student.agent.masks(p)["W_in"].min()) == 1.0
    assert float(student.agent.masks(p)["W"].min()) == 1.0
    # by default the student trains what the closed-loop network trains
    *_, problems = _problem(**{"agent.trainable": ["W", "W_out"]})
    assert float(problems["open"].agent.masks(p)["W_in"].max()) == 0.0
