"""How fast could learndyn be on this machine? The matmuls each benchmark cannot avoid, timed
alone in one XLA program, against learndyn's epoch and the PyTorch baseline's.

    python benchmarks/_ceilings.py            (about a minute; PyTorch optional)

gb-fig1-closed: one epoch is a chain of dependent (100 x 100) @ (100 x 100) products: 50 in
the forward pass and 2 per step in the reverse pass (the adjoint's product and the weight
gradient's), 150 in all. Here they run as one `lax.scan` with nothing else (no tanh, plant,
loss or optimiser), each waiting for the one before; a second program makes the weight
gradient's 50 independent of the chain, as they are in the epoch, to show that XLA:CPU gains
nothing from that (it runs them one after another, each on one core); a third runs the chain
through NumPy's multi-threaded BLAS, the fastest 100 x 100 product on this machine.
Li2 Fig. 3: a step needs three (2016 x 2048) x (2048 x 71)-sized products (F V, g V^T,
g^T F); here the three alone, back to back.

Each row prints the products-only time, learndyn's time, and baseline / products-only: the
largest speed-up over the baseline that any implementation doing these products through
XLA:CPU could show on this machine. (Not registered with `learndyn bench`: the file name starts
with "_".)
"""

from __future__ import annotations

import importlib
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from learndyn.bench_loader import load_harness

_harness = load_harness(Path(__file__).resolve().parent)
BenchSettings, measure_matmul_peak = _harness.BenchSettings, _harness.measure_matmul_peak
time_per_call, time_trainer = _harness.time_per_call, _harness.time_trainer


def gb_products_s(n: int = 100, batch: int = 100, horizon: int = 50) -> float:
    """Seconds of the 3 * horizon dependent (n, n) @ (n, batch) products of one epoch."""
    W = jax.random.normal(jax.random.PRNGKey(0), (n, n)) / n
    H = jax.random.normal(jax.random.PRNGKey(1), (n, batch))

    @jax.jit
    def chain(W, H):
        return jax.lax.scan(lambda h, _: (W @ h, None), H, None, length=3 * horizon)[0]

    return time_per_call(lambda: chain(W, H).block_until_ready(), 1.5)


def gb_products_with_independent_s(n: int = 100, batch: int = 100, horizon: int = 50) -> float:
    """Seconds of the epoch's 150 products laid out as in the epoch: `horizon` dependent ones
    (forward), then `horizon` dependent ones each with an INDEPENDENT product beside it (the
    weight gradient's accumulator). Equal to gb_products_s when XLA:CPU runs the independent
    products one after another."""
    W = jax.random.normal(jax.random.PRNGKey(0), (n, n)) / n
    H = jax.random.normal(jax.random.PRNGKey(1), (n, batch))

    @jax.jit
    def chain(W, H):
        h = jax.lax.scan(lambda h, _: (W @ h, None), H, None, length=horizon)[0]

        def body(c, _):
            h, acc = c
            return (W @ h, acc + h @ W), None
        return jax.lax.scan(body, (h, jnp.zeros_like(H)), None, length=horizon)[0]

    return time_per_call(lambda: jax.block_until_ready(chain(W, H)), 1.5)


def numpy_products_s(n: int = 100, batch: int = 100, horizon: int = 50) -> float:
    """Seconds of 3 * horizon dependent products through NumPy's BLAS (multi-threaded)."""
    rng = np.random.default_rng(0)
    W = (rng.standard_normal((n, n)) / n).astype(np.float32)
    H0 = rng.standard_normal((n, batch)).astype(np.float32)

    def chain():
        h = H0
        for _ in range(3 * horizon):
            h = W @ h
        return h

    return time_per_call(chain, 1.5)


def li2_products_s(n: int = 2016, K: int = 2048, M: int = 71) -> float:
    """Seconds of F @ V, g @ V^T and g^T @ F (the products of one Fig. 3 step)."""
    F = jax.random.normal(jax.random.PRNGKey(0), (n, K))
    V = jax.random.normal(jax.random.PRNGKey(1), (K, M))

    @jax.jit
    def three(F, V):
        g = F @ V
        dF = g @ V.T
        dV = jax.lax.optimization_barrier(g.T) @ F
        return dF, dV

    return time_per_call(lambda: jax.block_until_ready(three(F, V)), 3.0)


def main() -> None:
    gb = importlib.import_module("learndyn_benchmarks.gb_closedloop")
    li2 = importlib.import_module("learndyn_benchmarks.li2")

    settings = BenchSettings()
    chain = gb_products_s()   # one measurement, printed below and used for the gb row
    rows = [("gb-fig1-closed", chain, time_trainer(gb.fig1_problem(), 1, 1.5),
             gb._torch_fig1(settings)),
            ("li2-fig3-step", li2_products_s(),
             time_trainer(li2._runs_for(settings), 1, 2 * 1.5), li2._torch_step(settings))]
    peak = measure_matmul_peak(seconds=1.5)
    flops = 3 * 50 * 2 * 100 ** 3
    indep, npy = gb_products_with_independent_s(), numpy_products_s()
    print(f"matmul peak (large products, all cores): {peak / 1e9:.1f} GFLOP/s")
    print(f"gb: 150 dependent 100 x 100 products, XLA:CPU: {chain * 1e3:.2f} ms "
          f"({flops / chain / 1e9:.1f} GFLOP/s, {flops / chain / peak:.0%} of the peak)")
    print(f"gb: 100 dependent + 50 independent products, XLA:CPU: {indep * 1e3:.2f} ms "
          f"({indep / chain:.2f}x the all-dependent chain: the independent ones do not run "
          f"alongside)")
    print(f"gb: 150 dependent products, NumPy BLAS: {npy * 1e3:.2f} ms "
          f"({flops / npy / 1e9:.1f} GFLOP/s)")
    print(f"{'benchmark':16s} {'products only':>14s} {'learndyn':>10s} {'baseline':>10s} "
          f"{'ceiling':>8s} {'learndyn':>9s}")
    for name, floor, ours, base in rows:
        ceil = f"{base / floor:.1f}x" if base else "-"
        got = f"{base / ours:.1f}x" if base else "-"
        b = f"{base * 1e3:.2f} ms" if base else "-"
        print(f"{name:16s} {floor * 1e3:11.2f} ms {ours * 1e3:7.2f} ms {b:>10s} "
              f"{ceil:>8s} {got:>9s}")
    if rows[0][3]:
        print(f"gb-fig1-closed with NumPy's BLAS products alone: {rows[0][3] / npy:.1f}x at most")


if __name__ == "__main__":
    main()
