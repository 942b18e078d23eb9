"""Tian 2025 (Li2), Fig. 3 setup: learndyn against a PyTorch script written like the paper's code.

Setup: group arithmetic on Z_71 (all M^2 pairs (h1, h2) -> h1 + h2 mod M), n = 2016 training
pairs (the other M^2 - n are the test set), Yhat = sigma(X W) V with W (2M, K), V (K, M),
K = 2048, sigma(x) = x^2, the sample-centred MSE 1/2 ||P1 (Y - Yhat)||_F^2 / n, Adam lr 1e-3
with COUPLED L2 weight decay 2e-4, full batch (one step = one epoch).

Benchmarks (registered with the harness, benchmarks/harness.py):

  li2-fig3-step       one training step (epoch), nothing recorded. Unit: step.
  li2-fig3-recorded   one training epoch with the paper's statistics recorded. The baseline
                      records them AS THE REFERENCE CODE DOES: every epoch, in torch, each read
                      back with .item(): ||G_F|| (G_F = P1 (Y - F V) V^T on the training set),
                      the diagonality of Ftil^T Ftil (share of its squared mass on the diagonal;
                      a K x K Gram matrix), train and test accuracy. learndyn runs
                      `Trainer.run` recording the same four statistics (PAPER_STATS, taken from
                      its Li2 observables) on the record schedule of the li2-fig3 recipe at
                      paper scale, record_steps(E, 50, 40) over its E = 3000 epochs, and the
                      time of the whole run (one timed run, after a compiling run of the first
                      chunk) is divided by E. Recording on a schedule instead of every epoch is
                      part of what this row measures. Unit: epoch.
  li2-fig3-8seeds     8 seeds trained as one batch (`Trainer.advance` over the vmapped step,
                      one compiled program); seconds per run-epoch = batch epoch time / 8.
                      (Li2Problem steps a vmapped batch in cache-sized groups of runs; at this
                      size a group is one run, so the 8 runs go one after another inside the
                      program: see RUN_GROUP_BYTES in learndyn/grokking/problem.py.) Baseline:
                      the PyTorch single-run epoch, i.e. what running the 8 seeds one after
                      another costs per run-epoch. Unit: run-epoch.

The baseline is written the way the reference code is: a frozen identity embedding (an
nn.Embedding holding the M x M identity, requires_grad False) turns (h1, h2) into the one-hot
input X (n, 2M), which goes through nn.Linear(2M, K, bias=False) as a dense matmul, then x^2,
then nn.Linear(K, M, bias=False); torch.optim.Adam(weight_decay=...) (coupled L2); the same
loss as learndyn (tests/test_bench_li2.py checks loss and gradient on shared weights).

Threads: PyTorch is timed with its default intra-op thread count and with one thread, and the
faster is reported (as in gb_closedloop.py: on a busy machine OpenMP's spinning threads can be
many times slower; taking the better keeps the comparison conservative).

FLOPs (fraction_of_peak) are XLA's cost analysis of learndyn's own program: one step for the
step and 8-seed rows (learndyn gathers rows of W where the baseline multiplies by a one-hot X,
so it does fewer FLOPs than the baseline for the same epoch); for the recorded row, the step's
FLOPs plus those of one `observe` times the number of records per epoch.
"""

from __future__ import annotations

import functools
import math
import time

import numpy as np

from .harness import (Benchmark, BenchSettings, batch_note, register,
                       time_batch_against_single, time_torch, time_trainer,
                       xla_flops)

try:
    import torch
    from torch import nn
except ImportError:  # the baseline columns are then empty
    torch = None

FIG3 = dict(group="Z71", M=71, K=2048, n=2016, lr=1e-3, wd=2e-4)
# The statistics that the reference code records every epoch (learndyn's observable names).
PAPER_STATS = ("gf_norm", "diag_FtF", "train_acc", "test_acc")
N_RUNS = 8

NOTES = {
    "li2-fig3-recorded": (
        "li2-fig3-recorded: both record ||G_F||, diag(Ftil^T Ftil), train and test accuracy; "
        "the baseline every epoch (as the reference code does), learndyn on the li2-fig3 "
        "recipe's schedule (paper scale: about 120 records in 3000 epochs), timed over the "
        "whole 3000-epoch run and divided by 3000"),
    "li2-fig3-8seeds": (
        "li2-fig3-8seeds: learndyn trains 8 seeds as one vmapped batch (time / 8); the "
        "baseline is the single-run PyTorch epoch (seeds one after another)"),
}


def _cfg(settings: BenchSettings) -> dict:
    """Quick mode: a small group and network, few epochs (a smoke test of the machinery)."""
    if not settings.quick:
        from learndyn.recipes import load_recipe
        rcp = load_recipe("li2-fig3", "paper")   # the shipped recipe's schedule
        return dict(FIG3, epochs=rcp.train.epochs, dense_until=rcp.record.dense_until,
                    per_decade=rcp.record.per_decade)
    return dict(FIG3, group="Z11", M=11, K=64, n=48, epochs=30, dense_until=5, per_decade=10)


# -- learndyn ------------------------------------------------------------------------------------

def li2_problem(cfg):
    from learndyn.core.activations import Activation
    from learndyn.grokking.config import Adam, MseLoss
    from learndyn.grokking.problem import Li2Problem
    from learndyn.groups import parse_group

    return Li2Problem(parse_group(cfg["group"]), cfg["K"], cfg["n"], act=Activation("x2"),
                      loss=MseLoss(reduction="mean").build(), optimizer=Adam().build())


class _Runs:
    """What `time_trainer` needs: `step(state, t, consts)` and a one-argument `init(key)`
    giving a run's (state, consts) (lr, wd fixed), as in a core.world Phase.

    `init` is the problem's init, jitted; under vmap (time_trainer vmaps it over the keys) it
    calls that one compiled single-run init per key and stacks the states and constants.
    (Compiling the vmapped init itself takes several seconds per batch size on XLA:CPU,
    mostly the random number generation; this keeps start-up and the quick test short. The
    states are the same.)
    """

    def __init__(self, problem, lr: float, wd: float):
        import jax
        import jax.numpy as jnp

        self.problem = problem
        self.step = problem.step
        self.map_runs = problem.map_runs
        single = jax.jit(lambda key: problem.init(key, lr, wd, 1.0))

        @jax.custom_batching.custom_vmap
        def init(key):
            return single(key)

        @init.def_vmap
        def init_batched(axis_size, in_batched, keys):
            if not in_batched[0]:
                keys = jnp.broadcast_to(keys, (axis_size,) + keys.shape)
            runs = [single(keys[i]) for i in range(axis_size)]
            out = jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *runs)
            return out, jax.tree_util.tree_map(lambda _: True, out)

        self.init = init


@functools.lru_cache(maxsize=None)
def _runs_for(settings: BenchSettings) -> _Runs:
    cfg = _cfg(settings)
    return _Runs(li2_problem(cfg), cfg["lr"], cfg["wd"])


def step_flops(runs: _Runs) -> float:
    """FLOPs of one training step of one run (XLA cost analysis)."""
    import jax
    state, consts = runs.init(jax.random.PRNGKey(0))
    return xla_flops(runs.problem.step, state, 0, consts)


@functools.lru_cache(maxsize=None)
def _step_flops(settings: BenchSettings) -> float:
    return step_flops(_runs_for(settings))


def paper_observe(problem):
    """The problem's observe, computing PAPER_STATS only."""
    return problem.observer(PAPER_STATS)


def time_recorded(runs: _Runs, cfg) -> tuple[float, int]:
    """Seconds per epoch of `Trainer.run` over cfg["epochs"] epochs of one run, recording
    PAPER_STATS on record_steps(epochs, dense_until, per_decade); and the number of records.
    A first run over the schedule's first chunk compiles the (shape-identical) chunk program."""
    import jax
    from learndyn.core.schedule import record_steps
    from learndyn.core.trainer import Trainer

    prob = runs.problem
    rec = record_steps(cfg["epochs"], cfg["dense_until"], cfg["per_decade"])
    per = math.ceil(len(rec) / 10)  # the trainer's default chunking (10 chunks per run)
    tr = Trainer(prob.step, paper_observe(prob), records_per_chunk=per, run_map=prob.map_runs,
                 takes_consts=True)
    s0, c0 = jax.vmap(runs.init)(jax.random.split(jax.random.PRNGKey(0), 1))
    jax.block_until_ready(tr.run(s0, rec[:per], consts=c0).state)  # compile
    t = time.perf_counter()
    res = tr.run(s0, rec, consts=c0)
    jax.block_until_ready(res.state)
    return (time.perf_counter() - t) / cfg["epochs"], len(rec)


def recorded_flops(runs: _Runs, cfg, n_records: int, step: float | None = None) -> float:
    """learndyn FLOPs per recorded epoch: a step (`step`, computed if None) plus the epoch's
    share of the records."""
    import jax
    state, consts = runs.init(jax.random.PRNGKey(0))
    step = step_flops(runs) if step is None else step
    return step + n_records / cfg["epochs"] * xla_flops(paper_observe(runs.problem), state,
                                                         consts)


# -- PyTorch baseline ----------------------------------------------------------------------------

if torch is not None:

    class Li2Net(nn.Module):
        """Yhat = (X W)^2 V with X = [e_h1, e_h2] from a frozen identity embedding."""

        def __init__(self, M, K):
            super().__init__()
            self.embed = nn.Embedding(M, M)
            with torch.no_grad():
                self.embed.weight.copy_(torch.eye(M))
            self.embed.weight.requires_grad_(False)
            self.W = nn.Linear(2 * M, K, bias=False)   # weight (K, 2M) = learndyn's W^T
            self.V = nn.Linear(K, M, bias=False)       # weight (M, K) = learndyn's V^T

        def hidden(self, h1, h2):
            x = torch.cat([self.embed(h1), self.embed(h2)], dim=1)   # one-hot X (n, 2M)
            return self.W(x) ** 2

        def forward(self, h1, h2):
            return self.V(self.hidden(h1, h2))

    def centred_mse(pred, Y):
        """1/2 ||P1 (Y - pred)||_F^2 / n (P1: centring over the samples)."""
        D = Y - pred
        D = D - D.mean(dim=0, keepdim=True)
        return 0.5 * (D * D).sum() / pred.shape[0]

    def torch_data(M, n, seed=0):
        """A random split of the M^2 pairs: (h1, h2, labels) for train and test."""
        g = torch.Generator().manual_seed(seed)
        perm = torch.randperm(M * M, generator=g)
        h1, h2 = perm // M, perm % M
        lab = (h1 + h2) % M
        return (h1[:n], h2[:n], lab[:n]), (h1[n:], h2[n:], lab[n:])

    class TorchLi2:
        """One run of the baseline: `epoch()` trains one full-batch epoch; `recorded_epoch()`
        also records the reference code's statistics (each read back with .item())."""

        def __init__(self, cfg, seed=0):
            torch.manual_seed(seed)
            self.M = cfg["M"]
            self.net = Li2Net(cfg["M"], cfg["K"])
            self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg["lr"],
                                        weight_decay=cfg["wd"])
            self.train, self.test = torch_data(cfg["M"], cfg["n"], seed)
            self.Y = nn.functional.one_hot(self.train[2], cfg["M"]).float()
            self.log = []

        def epoch(self):
            h1, h2, _ = self.train
            self.opt.zero_grad()
            loss = centred_mse(self.net(h1, h2), self.Y)
            loss.backward()
            self.opt.step()
            return loss.item()

        def recorded_epoch(self):
            loss = self.epoch()
            h1, h2, lab = self.train
            with torch.no_grad():
                F = self.net.hidden(h1, h2)
                V = self.net.V.weight.T
                pred = F @ V
                R = self.Y - pred
                G = (R - R.mean(dim=0, keepdim=True)) @ V.T          # G_F
                gf_norm = G.norm().item()
                Ft = F - F.mean(dim=0, keepdim=True)
                C = Ft.T @ Ft
                diag = ((C.diagonal() ** 2).sum() / (C ** 2).sum()).item()
                train_acc = (pred.argmax(dim=1) == lab).float().mean().item()
                t1, t2, tlab = self.test
                test_acc = (self.net(t1, t2).argmax(dim=1) == tlab).float().mean().item()
            self.log.append((loss, gf_norm, diag, train_acc, test_acc))
            return loss


@functools.lru_cache(maxsize=None)
def _torch_step(settings: BenchSettings) -> float | None:
    cfg = _cfg(settings)
    return time_torch(lambda: TorchLi2(cfg).epoch, settings)


# -- the benchmarks --------------------------------------------------------------------------------

# Each `Trainer.advance` call costs a fixed ~15 ms (1 run) to ~40 ms (8 runs) on top of its
# steps (measured: the first step of a call, whose temporaries, ~40 MB, are freshly mapped
# memory); time_trainer's blocks of min_seconds / 3 would hold only ~16 steps of one run, so
# it is given longer blocks here, for the per-call cost to vanish as in a training run
# (hundreds of steps per call). The 8-run row takes per-step slopes between calls of n and 3n
# steps (the fixed cost cancels), with n about 0.6 s of work: 3 steps per run of the batch.
STEP_BLOCKS = 2.0
SEEDS_BLOCKS = 16.0


def _run_step(settings: BenchSettings):
    runs = _runs_for(settings)
    ours = time_trainer(runs, 1, STEP_BLOCKS * settings.min_seconds)
    return _torch_step(settings), ours, _step_flops(settings)


def _run_recorded(settings: BenchSettings):
    cfg = _cfg(settings)
    runs = _runs_for(settings)
    ours, n_records = time_recorded(runs, cfg)
    base = time_torch(lambda: TorchLi2(cfg).recorded_epoch, settings)
    return base, ours, recorded_flops(runs, cfg, n_records, _step_flops(settings))


def _run_seeds(settings: BenchSettings):
    runs = _runs_for(settings)
    ours, single = time_batch_against_single(runs, N_RUNS, SEEDS_BLOCKS * settings.min_seconds)
    return (_torch_step(settings), ours, _step_flops(settings),
            batch_note("li2-fig3-8seeds", N_RUNS, ours, single))


def _register(name, unit, run, description):
    kw = {}
    if name in NOTES:
        kw["notes"] = NOTES[name]   # shown under the table
    register(Benchmark(name, unit, run, description, **kw))


_register("li2-fig3-step", "step", _run_step,
          "Li2 Fig. 3 (Z71, K=2048, n=2016, x^2, MSE, Adam 1e-3, wd 2e-4): one training step")
_register("li2-fig3-recorded", "epoch", _run_recorded,
          "Li2 Fig. 3, a training epoch with statistics recorded; "
          "baseline: every epoch, learndyn: on its record schedule. " + NOTES["li2-fig3-recorded"])
_register("li2-fig3-8seeds", "run-epoch", _run_seeds,
          f"Li2 Fig. 3, {N_RUNS} seeds vectorised (baseline: one run after another). "
          + NOTES["li2-fig3-8seeds"])


# -- for tests: the baseline's loss and gradient on given weights ------------------------------------

def torch_loss_and_grads(W, V, pairs, M):
    """The PyTorch baseline's loss and gradients (dW, dV in learndyn's layout, numpy) for
    learndyn-layout weights W (2M, K), V (K, M) on training pairs (n, 2) of Z_M."""
    net = Li2Net(M, W.shape[1])
    with torch.no_grad():
        net.W.weight.copy_(torch.from_numpy(np.asarray(W, np.float32).T.copy()))
        net.V.weight.copy_(torch.from_numpy(np.asarray(V, np.float32).T.copy()))
    pairs = torch.from_numpy(np.asarray(pairs, np.int64))
    h1, h2 = pairs[:, 0], pairs[:, 1]
    Y = nn.functional.one_hot((h1 + h2) % M, M).float()
    loss = centred_mse(net(h1, h2), Y)
    loss.backward()
    return (float(loss.detach()), net.W.weight.grad.numpy().T.copy(), net.V.weight.grad.numpy().T.copy())
