"""Group-arithmetic training in the trainer's (step, observe) form (Li2).

One run = one seed with its own train/test split and hyper-parameters (learning rate, weight
decay, V-init multiplier live in the state, so runs that share shapes are vmapped together).
Full batch: one step is one epoch.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from learndyn.core.batching import runs_in_groups
from learndyn.groups import FiniteGroup, irrep_projectors, isotypic_basis, real_irreps
from learndyn.grokking.data import all_pairs
from learndyn.grokking.losses import get_loss, mse_class_centred, mse_sample_centred
from learndyn.grokking.model import (Activation, Params, centre_samples, init_params,
                                     one_hot_labels, ridge_V)
from learndyn.grokking.observables import (accuracy, cosine_distance, gf_norm_ratio,
                                           restricted_and_excluded_loss)
from learndyn.grokking.optim import conjugate_grads, make_optimizer

# A node "concentrates" on one irrep when that irrep holds at least this share of its power.
CONCENTRATION = 0.9
# Nodes whose weight norm is below 10 % of the largest node's are "inactive" (weight decay
# shrinks unused nodes toward zero, leaving noise whose irrep spectrum means nothing).
ACTIVE_NORM = 0.1


def active_nodes(power):
    """Nodes whose norm is at least ACTIVE_NORM times the largest node norm of their run
    (a node's irrep powers sum to its squared norm). power: (..., K, n_irreps) -> (..., K)"""
    total = power.sum(-1)
    return total >= ACTIVE_NORM ** 2 * total.max(-1, keepdims=True)


def active_node_energies(power, energy) -> list[np.ndarray]:
    """Per run, E(w) of its active nodes (a node decayed to zero has no direction, so no
    defined energy). power: (R, K, n_irreps), energy: (R, K)."""
    keep = np.asarray(active_nodes(jnp.asarray(power))) & np.isfinite(energy)
    return [np.asarray(energy[r])[keep[r]] for r in range(len(keep))]


def concentration(power):
    """Fraction of active nodes whose dominant irrep holds >= CONCENTRATION of their power.
    power: (..., K, n_irreps) -> (...,)"""
    total = power.sum(-1)
    share_top = power.max(-1) / jnp.maximum(total, 1e-30)
    active = active_nodes(power)
    return jnp.sum((share_top >= CONCENTRATION) & active, -1) / jnp.maximum(jnp.sum(active, -1), 1)


# -- fast pieces (speed only: the numbers are those of model.hidden / observables) ---------------
# The hidden layer's input X W is a gather of rows of W (model.hidden); its gradient is a
# segment sum of rows. Under vmap (the trainer always vmaps over runs) XLA:CPU turns a gather
# whose operand AND indices carry the run axis into a generic batched gather that is several
# times slower than a plain one (likewise the scatter of its gradient). The rules below fold the
# run axis into the row axis instead: one plain gather from the (runs * rows, K) matrix.

def _fold_runs(axis_size, rows, idx, idx_batched):
    """Indices into the run-folded (axis_size * rows, ...) matrix, (axis_size, ...)."""
    if not idx_batched:
        idx = jnp.broadcast_to(idx, (axis_size,) + idx.shape)
    off = rows * jnp.arange(axis_size, dtype=idx.dtype)
    return idx + off.reshape((axis_size,) + (1,) * (idx.ndim - 1))


@jax.custom_batching.custom_vmap
def _take_rows(W, idx):
    """W[idx] (rows of W)."""
    return W[idx]


@_take_rows.def_vmap
def _take_rows_vmap(axis_size, in_batched, W, idx):
    W_b, idx_b = in_batched
    if not W_b:
        return W[idx], idx_b
    rows = W.shape[1]
    flat = W.reshape((axis_size * rows,) + W.shape[2:])
    return flat[_fold_runs(axis_size, rows, idx, idx_b)], True


@functools.lru_cache(maxsize=None)
def _segment_rows(rows: int):
    """G (n, ...), idx (n,) -> (rows, ...): sum of the rows of G with the same index."""

    @jax.custom_batching.custom_vmap
    def seg(G, idx):
        return jax.ops.segment_sum(G, idx, num_segments=rows)

    @seg.def_vmap
    def seg_vmap(axis_size, in_batched, G, idx):
        G_b, idx_b = in_batched
        if not G_b:
            G = jnp.broadcast_to(G, (axis_size,) + G.shape)
        flat = jax.ops.segment_sum(G.reshape((-1,) + G.shape[2:]),
                                   _fold_runs(axis_size, rows, idx, idx_b).reshape(-1),
                                   num_segments=axis_size * rows)
        return flat.reshape((axis_size, rows) + G.shape[2:]), True

    return seg


@functools.lru_cache(maxsize=None)
def _pair_layer(rows: int, act):
    """(W, i1, i2) -> act(W[i1] + W[i2]) (W has `rows` rows), with a reverse pass that
    recomputes the pre-activation from W (small, in cache) instead of keeping the (n, K)
    gathers: dH = act'(H) * g is then one pass over g, and dW its segment sums."""
    seg = _segment_rows(rows)

    def pre(W, i1, i2):
        return _take_rows(W, i1) + _take_rows(W, i2)

    @jax.custom_vjp
    def layer(W, i1, i2):
        return act(pre(W, i1, i2))

    def fwd(W, i1, i2):
        return layer(W, i1, i2), (W, i1, i2)

    def bwd(res, g):
        W, i1, i2 = res
        # the barrier keeps XLA from merging this gather with the forward one (it would then
        # store the (n, K) gathers instead of fusing them into their consumers)
        _, act_vjp = jax.vjp(act, pre(jax.lax.optimization_barrier(W), i1, i2))
        (dH,) = act_vjp(g)
        return seg(dH, i1) + seg(dH, i2), None, None

    layer.defvjp(fwd, bwd)
    return layer


@jax.custom_vjp
def _matmul(F, V):
    """F @ V, with a reverse pass laid out for XLA:CPU's fast matmul kernels."""
    return F @ V


def _matmul_fwd(F, V):
    return F @ V, (F, V)


def _matmul_bwd(res, g):
    # dV = F^T g contracts over F's LEADING axis; XLA:CPU runs that layout on a generic kernel
    # at about a third of its matmul speed. (g^T F)^T with g^T (M x n, small) materialised is
    # the same sum in the fast layout; the barriers stop XLA folding the two transposes back
    # into the product.
    F, V = res
    gT = jax.lax.optimization_barrier(g.T)
    dV = jax.lax.optimization_barrier(gT @ F).T
    return g @ V.T, dV


_matmul.defvjp(_matmul_fwd, _matmul_bwd)


def _gram_sq_norm(A, blocks: int):
    """||A^T A||_F^2 for A (n, K), from the products of column blocks on and above the block
    diagonal (A^T A is symmetric): about (blocks + 1) / (2 blocks) of the full product's FLOPs."""
    parts = jnp.array_split(A, blocks, axis=1)
    total = jnp.zeros((), A.dtype)
    for i in range(blocks):
        for j in range(i, blocks):
            P = parts[i].T @ parts[j]
            total = total + (1.0 if i == j else 2.0) * jnp.sum(P * P)
    return total


# A batch of runs is stepped in groups whose (n, K) activations take about this many bytes
# together: each group is vmapped, the groups run one after another (lax.map). Vmapping all
# runs at once makes every operation stream the whole batch's activations (for Fig. 3, 16 MB
# per run) through memory; a cache-sized group keeps them in cache. Small problems still run
# as one vmapped group.
RUN_GROUP_BYTES = 8 << 20


class Li2State(NamedTuple):
    params: Params
    opt_state: Any
    train_idx: jax.Array   # (n,) indices into the M^2 pairs
    test_idx: jax.Array    # (M^2 - n,)
    cos_W: jax.Array       # () cosine distance of W between the last two steps
    cos_V: jax.Array       # ()
    wd: jax.Array          # () weight decay eta (also the ridge of V_ridge)
    init: Params           # the initial weights (distance travelled from them is recorded)


@dataclass(frozen=True, eq=False)
class Li2Problem:
    """Two-layer network Yhat = sigma(X W) V on all pairs of `group`.

    K: hidden width; act: activation; loss: "mse" (Eq. 1), "mse_class" or "ce";
    optimizer: "sgd" | "adam" | "adamw" | "muon"; ridge: replace V by V_ridge at every step.
    n_tracked: nodes whose full irrep power is recorded at every record (heat maps).
    """

    group: FiniteGroup
    K: int
    n_train: int
    act: Activation = Activation("x2")
    loss: str = "mse"
    loss_reduction: str = "mean"   # "sum": Eq. 1 as written; "mean": / n (the reference code's scale)
    optimizer: str = "adam"
    complex_weights: bool = False
    n_residual: int = 0
    ridge: bool = False
    n_tracked: int = 32
    n_key_irreps: int = 3   # key irreps kept / removed by the restricted / excluded loss

    def __post_init__(self):
        pairs, labels = all_pairs(self.group.table)
        object.__setattr__(self, "_pairs", jnp.asarray(pairs))
        object.__setattr__(self, "_labels", jnp.asarray(labels))
        basis, owner = isotypic_basis(self.group)
        n_irr = len(real_irreps(self.group))
        onehot = np.zeros((self.group.order, n_irr), np.float32)
        onehot[np.arange(self.group.order), owner] = 1.0
        object.__setattr__(self, "_basis", jnp.asarray(basis, jnp.float32))
        object.__setattr__(self, "_owner", jnp.asarray(onehot))
        object.__setattr__(self, "_projectors", jnp.asarray(irrep_projectors(self.group), jnp.float32))
        object.__setattr__(self, "_opt", make_optimizer(self.optimizer, 1.0, 0.0, inject=True))
        base = get_loss(self.loss)
        if self.loss != "ce":
            red = self.loss_reduction
            base = (lambda f: (lambda pred, Y: f(pred, Y, reduction=red)))(
                mse_sample_centred if self.loss == "mse" else mse_class_centred)
        object.__setattr__(self, "_loss", base)
        itemsize = 8 if self.complex_weights else 4
        group = max(1, RUN_GROUP_BYTES // (self.n_train * self.K * itemsize))
        if jax.default_backend() != "cpu":   # cache-sized groups help only a CPU's caches
            group = 1 << 30
        object.__setattr__(self, "_group", group)
        object.__setattr__(self, "_update_runs", self.map_runs(self._update))
        # Recording: the (M^2, K) activations of all pairs, and the K x K Gram products, are
        # computed run by run on a CPU (vmapped, XLA:CPU runs the Gram products as batched
        # matmuls, measured 1.5x slower for one run of Fig. 3).
        obs_group = max(1, RUN_GROUP_BYTES // (self.M * self.M * self.K * itemsize))
        if jax.default_backend() != "cpu":
            obs_group = 1 << 30
        object.__setattr__(self, "_obs_group", obs_group)
        object.__setattr__(self, "_observers", {})

    @property
    def M(self) -> int:
        return self.group.order

    @property
    def n_irreps(self) -> int:
        return self._owner.shape[1]

    # -- init ---------------------------------------------------------------------------
    def init(self, key, lr, wd, v_scale) -> Li2State:
        """A run: seeded split of n_train pairs, weights, and its lr / wd / V-init scale."""
        k_split, k_init = jax.random.split(key)
        perm = jax.random.permutation(k_split, self.M * self.M)
        params = init_params(k_init, self.M, self.K, v_scale=1.0,
                             complex_weights=self.complex_weights, n_residual=self.n_residual)
        params = params._replace(V=params.V * v_scale)
        opt_state = self._opt.init(params)
        hp = dict(opt_state.hyperparams)
        hp["learning_rate"] = jnp.asarray(lr, jnp.float32)
        hp["weight_decay"] = jnp.asarray(wd, jnp.float32)
        opt_state = opt_state._replace(hyperparams=hp)
        z = jnp.zeros((), jnp.float32)
        return Li2State(params, opt_state, perm[:self.n_train], perm[self.n_train:], z, z,
                        jnp.asarray(wd, jnp.float32), params)

    # -- training -----------------------------------------------------------------------
    def _data(self, idx):
        pairs = self._pairs[idx]
        labels = self._labels[idx]
        return pairs, labels, one_hot_labels(labels, self.M)

    def _effective_V(self, params, F, Y, wd):
        if not self.ridge:
            return params.V
        return jax.lax.stop_gradient(ridge_V(jnp.real(F) if not self.complex_weights else F,
                                             Y, jnp.maximum(wd, 1e-6)).astype(params.V.dtype))

    def hidden(self, params, pairs):
        """model.hidden(params, pairs, self.act), computed with the vmap-friendly gather."""
        h = _pair_layer(params.W.shape[0], self.act)(params.W, pairs[:, 0], self.M + pairs[:, 1])
        for R in params.R:
            h = h + self.act(h @ R)
        return h

    def outputs(self, params, pairs, Y, wd):
        F = self.hidden(params, pairs)
        V = self._effective_V(params, F, Y, wd)
        out = _matmul(F, V)
        return (jnp.real(out) if jnp.iscomplexobj(out) else out), F, V

    def objective(self, params, state):
        pairs, labels, Y = self._data(state.train_idx)
        pred, _, _ = self.outputs(params, pairs, Y, state.wd)
        return self._loss(pred, Y)

    def step(self, state: Li2State, t):
        """One full-batch update of one run: (state, loss). Under vmap over runs, the runs
        are stepped in cache-sized groups (RUN_GROUP_BYTES)."""
        # only what a step reads goes through the grouped map (each field is copied in)
        (params, opt_state, cos_W, cos_V), loss = self._update_runs(
            state._replace(init=None, test_idx=None), t)
        return state._replace(params=params, opt_state=opt_state, cos_W=cos_W,
                              cos_V=cos_V), loss

    def map_runs(self, fn):
        """`fn` (per run) whose vmap over runs maps them in the step's cache-sized groups.
        As the trainer's `run_map` it loops over the runs (groups) with each run's whole
        chunk inside: a run takes all the chunk's steps (and its checks and records) with its
        state in cache, as it would trained alone; stepping every run at each step instead
        streams all their states (about 7 MB per run on Fig. 3) through memory at every step."""
        return runs_in_groups(fn, self._group)

    def _update(self, state: Li2State, t):
        """The parts of the state that a step changes, and the loss (the fields that a step
        leaves alone stay outside the grouped map, so they are not copied through it)."""
        loss, grads = jax.value_and_grad(self.objective)(state.params, state)
        if self.complex_weights:
            grads = conjugate_grads(grads)
        updates, opt_state = self._opt.update(grads, state.opt_state, state.params)
        params = jax.tree_util.tree_map(lambda p, u: p + u, state.params, updates)
        if self.ridge:  # V is not a free parameter: keep it at the ridge solution
            pairs, _, Y = self._data(state.train_idx)
            params = params._replace(V=self._effective_V(params, self.hidden(params, pairs),
                                                         Y, state.wd))
        return (params, opt_state, cosine_distance(params.W, state.params.W),
                cosine_distance(params.V, state.params.V)), loss

    # -- observables ----------------------------------------------------------------------
    obs_dims = {"node_power": ("node", "irrep"), "irrep_share": ("irrep",)}

    def node_power(self, W) -> jax.Array:
        """Power of each hidden node's weights in each real irrep: (K, n_irreps). Both input
        halves (the h1 and h2 embeddings) are functions on the group; their powers add."""
        M = self.M
        coef = jnp.einsum("mk,mj->kj", W[:M], self._basis), jnp.einsum("mk,mj->kj", W[M:], self._basis)
        sq = sum(jnp.abs(c) ** 2 for c in coef)       # (K, M)
        return sq @ self._owner                        # (K, n_irreps)

    def node_energy(self, W, Ytil_pairs, Ytil) -> jax.Array:
        """E(w) = 1/2 ||Ytil^T sigma(X w)||^2 for each unit-normalised node (Thm 1), (K,)."""
        Wn = W / jnp.linalg.norm(W, axis=0, keepdims=True)
        F = self.hidden(Params(Wn, jnp.zeros((self.K, self.M), W.dtype), ()), Ytil_pairs)
        G = Ytil.T @ F
        return 0.5 * jnp.sum(jnp.abs(G) ** 2, axis=0)

    def observe(self, state: Li2State) -> dict:
        """The recorded observables of one run (under vmap: runs in groups, see __post_init__)."""
        return self.observer()(state)

    def observer(self, keys: tuple[str, ...] | None = None):
        """An observe function that computes only `keys` (all observables if None). Under
        vmap the runs are observed in groups (a loop over groups, outside which XLA cannot
        drop unused observables: selecting them afterwards would still compute them all)."""
        keys = None if keys is None else tuple(keys)
        if keys not in self._observers:
            def fn(state):
                obs = self._observe(state)
                return obs if keys is None else {k: obs[k] for k in keys}
            self._observers[keys] = runs_in_groups(fn, self._obs_group)
        return self._observers[keys]

    def _observe(self, state: Li2State) -> dict:
        p = state.params
        tr_pairs, tr_lab, Ytr = self._data(state.train_idx)
        te_pairs, te_lab, Yte = self._data(state.test_idx)
        pred_tr, F, V = self.outputs(p, tr_pairs, Ytr, state.wd)
        pred_te, _, _ = self.outputs(p, te_pairs, Yte, state.wd)
        Freal = jnp.real(F) if self.complex_weights else F
        Vreal = jnp.real(V) if self.complex_weights else V
        gfn, gfr = gf_norm_ratio(Freal, Ytr, Vreal)
        power = self.node_power(p.W)                              # (K, n_irr)
        total = jnp.sum(power, axis=1, keepdims=True)
        share = power / jnp.maximum(total, 1e-30)
        ipr = jnp.sum(share ** 2, axis=1)
        srt = jnp.sort(share, axis=1)
        n = share.shape[1]
        ranks = jnp.arange(1, n + 1)
        gini = jnp.sum((2 * ranks - n - 1) * srt, axis=1) / (n - 1)  # Gini of a distribution summing to 1
        energy = self.node_energy(p.W, tr_pairs, centre_samples(Ytr))
        # diag_mass_node_gram(F) and diag_mass_sample_gram(F) (observables.py) without
        # forming their K x K Gram matrices: with C = Ftil^T Ftil, diag(C) = column sums of
        # Ftil^2, ||C||_F^2 from the symmetric halves (_gram_sq_norm), and since
        # F^T F = C + n mu mu^T (mu = mean row of F; 1^T Ftil = 0),
        # ||P1 F F^T||_F^2 = sum(C * F^T F) = ||C||_F^2 + n ||Ftil mu||^2.
        Ft = centre_samples(Freal)
        c_sq = _gram_sq_norm(Ft, max(1, min(4, self.K // 512)))
        c_diag = jnp.sum(Ft * Ft, axis=0)
        Ft_mu = Ft @ jnp.mean(Freal, axis=0)
        d_sample = jnp.sum(Ft * Freal, axis=-1)
        diag_node = jnp.sum(c_diag * c_diag) / c_sq
        diag_sample = jnp.sum(d_sample * d_sample) / (c_sq + Freal.shape[0] * (Ft_mu @ Ft_mu))
        W_norm = jnp.linalg.norm(p.W)
        # Nanda et al.: cross-entropy of the test logits with only the key irreps of V kept
        # (restricted) or removed (excluded)
        k = max(1, min(self.n_key_irreps, self.n_irreps - 1))
        restricted, excluded = restricted_and_excluded_loss(
            p._replace(V=V), te_pairs, te_lab, self.act, self._projectors, k, loss="ce")
        return {
            "train_loss": self._loss(pred_tr, Ytr), "test_loss": self._loss(pred_te, Yte),
            "train_acc": accuracy(pred_tr, tr_lab), "test_acc": accuracy(pred_te, te_lab),
            "gf_norm": gfn, "gf_ratio": gfr,
            "diag_FtF": diag_node, "diag_P1FFt": diag_sample,
            "cos_W": state.cos_W, "cos_V": state.cos_V,
            "dist0_W": cosine_distance(p.W, state.init.W),
            "dist0_V": cosine_distance(V, state.init.V),
            "W_norm": W_norm, "V_norm": jnp.linalg.norm(V),
            "restricted_loss": restricted, "excluded_loss": excluded,
            "ipr_mean": jnp.mean(ipr), "gini_mean": jnp.mean(gini),
            "concentrated_frac": concentration(power),
            "energy_mean": jnp.mean(energy),
            "irrep_share": jnp.sum(power, axis=0) / jnp.sum(power),
            "node_power": power[:self.n_tracked],
        }
