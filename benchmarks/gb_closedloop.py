"""Ger & Barak closed-loop control: learndyn against a plain PyTorch training script.

Benchmarks (registered with the harness, benchmarks/harness.py):

  gb-fig1-closed          Fig. 1: tanh RNN (N = 100) controlling the double integrator,
                          T = 50, batch 100, SGD lr 0.01 with gradient-norm clip 1.
                          Unit: one training epoch of one seed.
  gb-fig1-closed-50seeds  The same, 50 seeds. learndyn trains them as one vectorised batch
                          (seconds per seed-epoch = epoch time / 50); the baseline is the
                          PyTorch single-seed epoch time, i.e. what running the 50 seeds one
                          after another costs per seed-epoch.
  gb-fig6-tracking        Fig. 6: linear leaky RNN (N = 100, dt/tau = 0.1) driving the 2-D
                          point mass (dt 0.1, clamp 10) to track a sum of sinusoids, T = 300,
                          batch 100, Adam lr 1e-3, W and W_out trained. Unit: one epoch.

The baseline is written the way such research code usually is: an nn.Module holding W, W_in,
W_out as nn.Parameters, a Python loop over time steps with the batch as rows, autograd,
torch.optim (SGD + clip_grad_norm_ / Adam). It computes the same loss as learndyn (checked by
tests/test_bench.py on shared parameters and episodes), with the same timing convention:

    u_t = W_out h_t;  x_{t+1} = plant(x_t, u_t);  h_{t+1} = phi(W h_t + W_in input_{t+1})

Threads: PyTorch is timed with its default intra-op thread count (the machine's cores) and
with one thread, and the faster of the two is reported. On a busy machine OpenMP's spinning
threads can make the multi-threaded run many times slower; taking the better one keeps the
comparison conservative (it favours the baseline).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .harness import (Benchmark, BenchSettings, batch_note, register,
                       time_batch_against_single, time_torch, time_trainer,
                       xla_flops)

try:
    import torch
    from torch import nn
except ImportError:  # the baseline columns are then empty
    torch = None

FIG1 = dict(n=100, horizon=50, batch=100, beta=0.005, x0_range=1.0, lr=0.01, clip=1.0)
FIG6 = dict(n=100, horizon=300, batch=100, leak=0.1, dt=0.1, clamp=10.0, lr=1e-3)
N_SEEDS = 50


def _shrink(cfg: dict, settings: BenchSettings) -> dict:
    """Quick mode: short episodes and a small network (a smoke test of the machinery)."""
    if not settings.quick:
        return cfg
    return {**cfg, "n": 16, "horizon": max(5, cfg["horizon"] // 10), "batch": 8}


# -- learndyn ------------------------------------------------------------------------------------

def fig1_problem(cfg=FIG1):
    from learndyn.closedloop.agents import RNNAgent
    from learndyn.closedloop.plants import k_integrator
    from learndyn.closedloop.tasks import Regulation
    from learndyn.closedloop.training import ControlProblem
    from learndyn.core.optim import make_optimizer

    agent = RNNAgent(n=cfg["n"], activation="tanh")
    task = Regulation(nx=2, horizon=cfg["horizon"], x0_range=cfg["x0_range"], beta=cfg["beta"],
                      time_reduction="sum")
    return ControlProblem(agent, k_integrator(2, 1.0), task,
                          make_optimizer("sgd", cfg["lr"], clip=cfg["clip"]), "closed",
                          batch=cfg["batch"])


def fig6_problem(cfg=FIG6):
    from learndyn.closedloop.agents import InitSpec, RNNAgent
    from learndyn.closedloop.plants import PointMass2D
    from learndyn.closedloop.tasks import SinusoidTracking
    from learndyn.closedloop.training import ControlProblem
    from learndyn.core.optim import make_optimizer

    agent = RNNAgent(n=cfg["n"], n_in=4, n_out=2, activation="linear", leak=cfg["leak"],
                     w_init=InitSpec("normal", 0.2, True), w_in_init=InitSpec("uniform", 0.1),
                     w_out_init=InitSpec("uniform", 0.1), trainable=("W", "W_out"))
    task = SinusoidTracking(dt=cfg["dt"], horizon=cfg["horizon"])
    return ControlProblem(agent, PointMass2D(dt=cfg["dt"], clamp=cfg["clamp"]), task,
                          make_optimizer("adam", cfg["lr"]), "closed", batch=cfg["batch"])


def step_flops(problem) -> float:
    """FLOPs of one training epoch of one run (XLA cost analysis, time loops unrolled)."""
    import jax
    state, consts = problem.init(jax.random.PRNGKey(0))
    return xla_flops(problem.step, state, 0, consts)


# -- PyTorch baseline ----------------------------------------------------------------------------

if torch is not None:

    class RNNController(nn.Module):
        """h' = phi(W h + W_in y) (or the leaky h + a (-h + phi(.))), u = W_out h."""

        def __init__(self, n, n_in, n_out, activation="tanh", leak=None,
                     w_init=("normal", 0.1, True), w_in_init=("normal", 0.01, False),
                     w_out_init=("normal", 0.01, False), train_w_in=True):
            super().__init__()
            self.W = nn.Parameter(self._sample((n, n), n, *w_init))
            self.W_in = nn.Parameter(self._sample((n, n_in), n_in, *w_in_init),
                                     requires_grad=train_w_in)
            self.W_out = nn.Parameter(self._sample((n_out, n), n, *w_out_init))
            self.phi = torch.tanh if activation == "tanh" else (lambda z: z)
            self.leak = leak
            self.n = n

        @staticmethod
        def _sample(shape, fan_in, dist, scale, per_sqrt_fan_in):
            s = scale / math.sqrt(fan_in) if per_sqrt_fan_in else scale
            if dist == "normal":
                return torch.randn(*shape) * s
            return torch.empty(*shape).uniform_(-s, s)

        def readout(self, h):
            return h @ self.W_out.T

        def forward(self, h, inp):
            a = self.phi(h @ self.W.T + inp @ self.W_in.T)
            return a if self.leak is None else h + self.leak * (-h + a)

    def fig1_loss(net, x0, beta, T):
        """Double integrator, y = position. Loss: batch mean of
        sum_{t<T} ||x_t||^2 + beta sum_{t<T} u_t^2. x0: (B, 2)."""
        A = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
        Bm = torch.tensor([[0.0], [1.0]])
        C = torch.tensor([[1.0, 0.0]])
        x = x0
        h = torch.zeros(x0.shape[0], net.n)
        loss = torch.zeros(x0.shape[0])
        for _ in range(T):
            u = net.readout(h)
            loss = loss + (x ** 2).sum(1) + beta * (u ** 2).sum(1)
            x = x @ A.T + u @ Bm.T
            h = net(h, x @ C.T)
        return loss.mean()

    def fig6_reference(phases, T, dt, amp=2.31, fx=(0.1, 0.3), fy=(0.2, 0.4), ramp_s=1.0):
        """Sum of sinusoids with an onset ramp: (B, 4) phases -> (B, T + 1, 2)."""
        t = torch.arange(T + 1) * dt
        ramp = torch.clamp(t / ramp_s, 0.0, 1.0)
        rx = sum(torch.cos(2 * math.pi * f * t + phases[:, i:i + 1]) for i, f in enumerate(fx))
        ry = sum(torch.cos(2 * math.pi * f * t + phases[:, 2 + i:3 + i]) for i, f in enumerate(fy))
        return amp * ramp[:, None] * torch.stack([rx, ry], dim=-1)

    def fig6_loss(net, x0, ref, dt, clamp):
        """Point mass [x, vx, y, vy], u = accelerations, state clamped; the RNN reads
        (position, reference). Loss: batch mean of sum_t dt ||pos_{t+1} - r_t||^2 / T."""
        T = ref.shape[1] - 1
        x = x0
        h = torch.zeros(x0.shape[0], net.n)
        loss = torch.zeros(x0.shape[0])
        for t in range(T):
            u = net.readout(h)
            pos = x[:, [0, 2]] + dt * x[:, [1, 3]]
            vel = x[:, [1, 3]] + dt * u
            x = torch.stack([pos[:, 0], vel[:, 0], pos[:, 1], vel[:, 1]], dim=1)
            x = torch.clamp(x, -clamp, clamp)
            loss = loss + dt * ((x[:, [0, 2]] - ref[:, t]) ** 2).sum(1)
            h = net(h, torch.cat([x[:, [0, 2]], ref[:, t + 1]], dim=1))
        return (loss / T).mean()


def torch_fig1_epoch_fn(cfg):
    """A closure running one Fig. 1 training epoch (fresh episodes, BPTT, clip, SGD)."""
    torch.manual_seed(0)
    net = RNNController(cfg["n"], 1, 1, "tanh")
    opt = torch.optim.SGD(net.parameters(), lr=cfg["lr"])

    def epoch():
        x0 = (torch.rand(cfg["batch"], 2) * 2 - 1) * cfg["x0_range"]
        loss = fig1_loss(net, x0, cfg["beta"], cfg["horizon"])
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), cfg["clip"])
        opt.step()
        return loss.item()
    return epoch


def torch_fig6_epoch_fn(cfg):
    """A closure running one Fig. 6 training epoch (fresh references, BPTT, Adam on W, W_out)."""
    torch.manual_seed(0)
    net = RNNController(cfg["n"], 4, 2, "linear", leak=cfg["leak"],
                        w_init=("normal", 0.2, True), w_in_init=("uniform", 0.1, False),
                        w_out_init=("uniform", 0.1, False), train_w_in=False)
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=cfg["lr"])

    def epoch():
        phases = (torch.rand(cfg["batch"], 4) * 2 - 1) * math.pi
        ref = fig6_reference(phases, cfg["horizon"], cfg["dt"])
        x0 = torch.zeros(cfg["batch"], 4)
        loss = fig6_loss(net, x0, ref, cfg["dt"], cfg["clamp"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()
    return epoch


@functools.lru_cache(maxsize=None)
def _torch_fig1(settings: BenchSettings) -> float | None:
    return time_torch(lambda: torch_fig1_epoch_fn(_shrink(FIG1, settings)), settings)


# -- the benchmarks --------------------------------------------------------------------------------

def _run_fig1(settings: BenchSettings):
    cfg = _shrink(FIG1, settings)
    prob = fig1_problem(cfg)
    ours = time_trainer(prob, 1, settings.min_seconds)
    return _torch_fig1(settings), ours, step_flops(prob)


def _run_fig1_seeds(settings: BenchSettings):
    cfg = _shrink(FIG1, settings)
    seeds = 4 if settings.quick else N_SEEDS
    prob = fig1_problem(cfg)
    # slopes between calls of n and 3n steps, n about 0.3 s of work (one step of the 50-seed
    # batch takes about 0.4 s)
    ours, single = time_batch_against_single(prob, seeds, 8 * settings.min_seconds)
    return (_torch_fig1(settings), ours, step_flops(prob),
            batch_note("gb-fig1-closed-50seeds", seeds, ours, single))


def _run_fig6(settings: BenchSettings):
    cfg = _shrink(FIG6, settings)
    prob = fig6_problem(cfg)
    ours = time_trainer(prob, 1, settings.min_seconds)
    return time_torch(lambda: torch_fig6_epoch_fn(cfg), settings), ours, step_flops(prob)


register(Benchmark("gb-fig1-closed", "epoch", _run_fig1,
                   "Fig. 1 closed-loop BPTT, tanh N=100, T=50, batch 100, SGD+clip, one seed"))
register(Benchmark("gb-fig1-closed-50seeds", "seed-epoch", _run_fig1_seeds,
                   "Fig. 1, 50 seeds vectorised (baseline: seeds one after another)"))
register(Benchmark("gb-fig6-tracking", "epoch", _run_fig6,
                   "Fig. 6 sinusoid tracking, linear leaky N=100, T=300, batch 100, Adam"))


# -- for tests: the baseline's loss on given parameters and episodes --------------------------------

def torch_loss(kind: str, params: dict, x0, ref=None, cfg: dict | None = None) -> float:
    """The PyTorch baseline's loss for parameters {W, W_in, W_out} (numpy) on episodes x0
    (B, nx) (and ref (B, T + 1, 2) for "fig6"); same config keys as FIG1 / FIG6."""
    if kind == "fig1":
        cfg = {**FIG1, **(cfg or {})}
        net = RNNController(params["W"].shape[0], 1, 1, "tanh")
    else:
        cfg = {**FIG6, **(cfg or {})}
        net = RNNController(params["W"].shape[0], 4, 2, "linear", leak=cfg["leak"])
    with torch.no_grad():
        for k in ("W", "W_in", "W_out"):
            getattr(net, k).copy_(torch.from_numpy(np.array(params[k], np.float32)))
        x0 = torch.from_numpy(np.array(x0, np.float32))
        if kind == "fig1":
            return float(fig1_loss(net, x0, cfg["beta"], cfg["horizon"]))
        ref = torch.from_numpy(np.array(ref, np.float32))
        return float(fig6_loss(net, x0, ref, cfg["dt"], cfg["clamp"]))
