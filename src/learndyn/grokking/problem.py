"""Group-arithmetic training in the trainer's (step, observe) form with constants (Li2).

One run = one seed with its own train/test split and hyper-parameters. What evolves (the
weights, the optimiser's moments, the last step's cosine distances) is the run's
:class:`Li2State`; what never changes (the split, learning rate, weight decay, V-init scale,
the initial weights) is its :class:`Li2Consts`, an argument of ``step(state, t, consts)`` and
``observe(state, consts)`` (``Trainer(takes_consts=True)``). Runs that share shapes are
vmapped together, lr and weight decay varying across them. Full batch: one step is one epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from learndyn.core.activations import Activation
from learndyn.core.batching import runs_in_groups
from learndyn.core.optim import conjugate_grads, make_optimizer
from learndyn.groups import FiniteGroup, irrep_projectors, isotypic_basis, real_irreps
from learndyn.grokking.analysis import TRIVIAL, concentration, trivial_power_share
from learndyn.grokking.data import all_pairs, split_pairs
from learndyn.grokking.kernels import matmul, pair_layer
from learndyn.grokking.losses import mse_sample_centred
from learndyn.grokking.model import (Params, centre_samples, init_params, one_hot_labels,
                                    residual_layers)
from learndyn.grokking.observables import (accuracy, authors_statistics, cosine_distance,
                                           gf_norm_ratio, gini,
                                           gram_diagonality, ipr, node_energy,
                                           node_irrep_power, restricted_and_excluded_loss)

# A batch of runs is stepped in groups whose (n, K) activations take about this many bytes
# together: each group is vmapped, the groups run one after another (lax.map). Vmapping all
# runs at once makes every operation stream the whole batch's activations (for Fig. 3, 16 MB
# per run) through memory; a cache-sized group keeps them in cache. Small problems still run
# as one vmapped group.
RUN_GROUP_BYTES = 8 << 20


class Li2State(NamedTuple):
    """What a step changes (one run)."""

    params: Params
    opt_state: Any
    cos_W: jax.Array       # () cosine distance of W between the last two steps
    cos_V: jax.Array       # ()


class Li2Consts(NamedTuple):
    """What never changes in a run (one run; batched: a leading run axis)."""

    train_idx: jax.Array   # (n,) indices into the M^2 pairs (data.split_pairs)
    test_idx: jax.Array    # (M^2 - n,)
    lr: jax.Array          # () learning rate
    wd: jax.Array          # () weight decay eta (also the ridge of V_ridge)
    v_scale: jax.Array     # () the V-init multiplier the initial weights were drawn with
    init: Params           # the initial weights (the distance travelled from them is recorded)


@dataclass(eq=False)
class Li2Problem:
    """Two-layer network Yhat = sigma(X W) V on all pairs of `group`.

    K: hidden width; act: the activation (core.activations.Activation); loss: loss(pred, Y)
    (config's loss members build it; default: Eq. 1 divided by n); optimizer: a factory
    (lr, weight_decay) -> optax.GradientTransformation (config's optimiser members build it;
    default: Adam with coupled L2), called with the run's constants at every step;
    ridge: None, or f(F, Y, weight_decay) -> V (config's ridge members build it): V is then
    the ridge solution on the training pairs at every step. residual: the residual layers'
    form (model.residual_layers); complex_init: how complex weights are drawn
    (model.init_params). n_tracked: nodes whose full irrep power is recorded at every record
    (heat maps).

    Not a frozen dataclass: `__post_init__` derives its tables (pairs, bases, run groups)
    from the fields, once, and `_observers` is an explicit cache of the observe functions
    built by `observer` (keyed by the observables they compute). The fields are not to be
    changed after construction (the derived tables would not follow).
    """

    group: FiniteGroup
    K: int
    n_train: int
    act: Activation = Activation("x2")
    loss: Callable = partial(mse_sample_centred, reduction="mean")
    optimizer: Callable = partial(make_optimizer, "adam")
    complex_weights: bool = False
    n_residual: int = 0
    ridge: Callable | None = None
    residual: str = "skip_outside"
    complex_init: str = "independent"
    n_tracked: int = 32
    n_key_irreps: int = 3   # key irreps kept / removed by the restricted / excluded loss
    authors_stats: bool = False   # also record observables.AUTHORS_STATS

    def __post_init__(self):
        pairs, labels = all_pairs(self.group.table)
        self._pairs = jnp.asarray(pairs)
        self._labels = jnp.asarray(labels)
        basis, owner = isotypic_basis(self.group)
        irreps = real_irreps(self.group)
        if irreps[TRIVIAL].name != "trivial":
            raise RuntimeError(f"{self.group.name}: real irrep {TRIVIAL} is not the trivial one")
        onehot = np.zeros((self.group.order, len(irreps)), np.float32)
        onehot[np.arange(self.group.order), owner] = 1.0
        self._basis = jnp.asarray(basis, jnp.float32)
        self._owner = jnp.asarray(onehot)
        self._projectors = jnp.asarray(irrep_projectors(self.group), jnp.float32)
        itemsize = 8 if self.complex_weights else 4
        group = max(1, RUN_GROUP_BYTES // (self.n_train * self.K * itemsize))
        if jax.default_backend() != "cpu":   # cache-sized groups help only a CPU's caches
            group = 1 << 30
        self._group = group
        self._update_runs = self.map_runs(self._update)
        # Recording: the (M^2, K) activations of all pairs, and the K x K Gram products, are
        # computed run by run on a CPU (vmapped, XLA:CPU runs the Gram products as batched
        # matmuls, measured 1.5x slower for one run of Fig. 3).
        obs_group = max(1, RUN_GROUP_BYTES // (self.M * self.M * self.K * itemsize))
        if jax.default_backend() != "cpu":
            obs_group = 1 << 30
        self._obs_group = obs_group
        self._observers = {}

    @property
    def M(self) -> int:
        return self.group.order

    @property
    def n_irreps(self) -> int:
        return self._owner.shape[1]

    # -- init ---------------------------------------------------------------------------
    def split(self, key) -> tuple[jax.Array, jax.Array]:
        """(train_idx (n,), test_idx (M^2 - n,)) of the run with `key`: data.split_pairs of
        the key's first half (the second draws the weights)."""
        k_split, _ = jax.random.split(key)
        return self.split_from(k_split)

    def split_from(self, split_key) -> tuple[jax.Array, jax.Array]:
        """(train_idx, test_idx) drawn with `split_key` itself (data.split_pairs)."""
        return split_pairs(self.M * self.M, key=split_key, n=self.n_train)

    def init(self, key, lr, wd, v_scale) -> tuple[Li2State, Li2Consts]:
        """One run: (state, consts) from its key (its first half draws the split, its second
        the weights) and its lr, weight decay and V-init scale (scalars; under vmap, one per
        run)."""
        k_split, k_init = jax.random.split(key)
        return self.init_from(k_split, k_init, lr, wd, v_scale)

    def init_from(self, split_key, init_key, lr, wd, v_scale) -> tuple[Li2State, Li2Consts]:
        """`init` with the split's key and the weights' key given apart (a recipe can hold
        one fixed across seeds: data.seed, model.init_seed)."""
        train_idx, test_idx = self.split_from(split_key)
        params = init_params(init_key, self.M, self.K, v_scale=1.0,
                             complex_weights=self.complex_weights, n_residual=self.n_residual,
                             complex_init=self.complex_init)
        params = params._replace(V=params.V * jnp.asarray(v_scale).astype(params.V.dtype))
        if self.ridge is not None:  # V starts, as it stays, at the ridge solution
            pairs, _, Y = self._data(train_idx)
            params = params._replace(V=self._effective_V(params, self.hidden(params, pairs), Y,
                                                         jnp.asarray(wd, jnp.float32)))
        # the optimiser's state does not depend on lr or weight decay (they scale its updates)
        opt_state = self.optimizer(1.0, 0.0).init(params)
        z = jnp.zeros((), jnp.float32)
        f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
        return (Li2State(params, opt_state, z, z),
                Li2Consts(train_idx, test_idx, f32(lr), f32(wd), f32(v_scale), params))

    # -- training -----------------------------------------------------------------------
    def _data(self, idx):
        pairs = self._pairs[idx]
        labels = self._labels[idx]
        return pairs, labels, one_hot_labels(labels, self.M)

    def _effective_V(self, params, F, Y, wd):
        """V, or with a ridge the ridge solution on (F, Y): call it with the TRAINING pairs'
        features and targets only."""
        if self.ridge is None:
            return params.V
        return jax.lax.stop_gradient(self.ridge(jnp.real(F) if not self.complex_weights else F,
                                                Y, wd).astype(params.V.dtype))

    def hidden(self, params, pairs):
        """model.hidden(params, pairs, self.act, self.residual), computed with the
        vmap-friendly gather."""
        h = pair_layer(params.W.shape[0], self.act)(params.W, pairs[:, 0], self.M + pairs[:, 1])
        return residual_layers(h, params.R, self.act, self.residual)

    def outputs(self, params, pairs, Y, wd):
        F = self.hidden(params, pairs)
        V = self._effective_V(params, F, Y, wd)
        return self.predict(F, V), F, V

    @staticmethod
    def predict(F, V):
        """The network output F V (its real part for complex weights)."""
        out = matmul(F, V)
        return jnp.real(out) if jnp.iscomplexobj(out) else out

    def objective(self, params, consts: Li2Consts):
        """The training loss of `params` on the run's training pairs."""
        pairs, labels, Y = self._data(consts.train_idx)
        if self.ridge is None:
            pred, _, _ = self.outputs(params, pairs, Y, consts.wd)
        else:  # V is held at the ridge solution for these W (init_from, _update): not solved again
            pred = self.predict(self.hidden(params, pairs), jax.lax.stop_gradient(params.V))
        return self.loss(pred, Y)

    def step(self, state: Li2State, t, consts: Li2Consts):
        """One full-batch update of one run: (state, loss). Under vmap over runs, the runs
        are stepped in cache-sized groups (RUN_GROUP_BYTES)."""
        # only what a step reads goes through the grouped map (each leaf is copied in)
        return self._update_runs(state, t, consts._replace(test_idx=None, init=None,
                                                           v_scale=None))

    def map_runs(self, fn):
        """`fn` (per run) whose vmap over runs maps them in the step's cache-sized groups.
        As the trainer's `run_map` it loops over the runs (groups) with each run's whole
        chunk inside: a run takes all the chunk's steps (and its checks and records) with its
        state in cache, as it would trained alone; stepping every run at each step instead
        streams all their states (about 7 MB per run on Fig. 3) through memory at every step."""
        return runs_in_groups(fn, self._group)

    def _update(self, state: Li2State, t, consts: Li2Consts):
        loss, grads = jax.value_and_grad(self.objective)(state.params, consts)
        if self.complex_weights:
            grads = conjugate_grads(grads)
        opt = self.optimizer(consts.lr, consts.wd)
        updates, opt_state = opt.update(grads, state.opt_state, state.params)
        params = jax.tree_util.tree_map(lambda p, u: p + u, state.params, updates)
        if self.ridge is not None:  # V is not a free parameter: keep it at the ridge solution
            pairs, _, Y = self._data(consts.train_idx)
            params = params._replace(V=self._effective_V(params, self.hidden(params, pairs),
                                                         Y, consts.wd))
        return Li2State(params, opt_state, cosine_distance(params.W, state.params.W),
                        cosine_distance(params.V, state.params.V)), loss

    # -- observables ----------------------------------------------------------------------
    obs_dims = {"node_power": ("node", "irrep"), "irrep_share": ("irrep",)}

    def node_power(self, W) -> jax.Array:
        """Power of each hidden node's weights in each real irrep: (K, n_irreps)
        (observables.node_irrep_power)."""
        return node_irrep_power(W, self._basis, self._owner)

    def node_energy(self, W, train_idx) -> jax.Array:
        """E(w) of each unit-normalised node on the run's training pairs, divided by n^2
        (observables.node_energy; Thm 1), (K,)."""
        pairs, _, Y = self._data(train_idx)
        Wn = W / jnp.linalg.norm(W, axis=0, keepdims=True).astype(W.dtype)
        F = self.hidden(Params(Wn, jnp.zeros((self.K, self.M), W.dtype), ()), pairs)
        return node_energy(F, centre_samples(Y))

    def observe(self, state: Li2State, consts: Li2Consts) -> dict:
        """The recorded observables of one run (under vmap: runs in groups, see __post_init__)."""
        return self.observer()(state, consts)

    def observer(self, keys: tuple[str, ...] | None = None):
        """An observe function that computes only `keys` (all observables if None). Under
        vmap the runs are observed in groups (a loop over groups, outside which XLA cannot
        drop unused observables: selecting them afterwards would still compute them all)."""
        keys = None if keys is None else tuple(keys)
        if keys not in self._observers:
            def fn(state, consts):
                obs = self._observe(state, consts)
                return obs if keys is None else {k: obs[k] for k in keys}
            self._observers[keys] = runs_in_groups(fn, self._obs_group)
        return self._observers[keys]

    def _observe(self, state: Li2State, consts: Li2Consts) -> dict:
        p = state.params
        tr_pairs, tr_lab, Ytr = self._data(consts.train_idx)
        te_pairs, te_lab, Yte = self._data(consts.test_idx)
        pred_tr, F, V = self.outputs(p, tr_pairs, Ytr, consts.wd)
        # the test pairs' outputs with the same V (with a ridge: fitted on the training pairs)
        pred_te = self.predict(self.hidden(p, te_pairs), V)
        Freal = jnp.real(F) if self.complex_weights else F
        Vreal = jnp.real(V) if self.complex_weights else V
        gfn, gfr = gf_norm_ratio(Freal, Ytr, Vreal)
        power = self.node_power(p.W)                              # (K, n_irr)
        diag_node, diag_sample = gram_diagonality(Freal)
        # Nanda et al.: cross-entropy of the test logits with only the key irreps of V kept
        # (restricted) or removed (excluded)
        k = max(1, min(self.n_key_irreps, self.n_irreps - 1))
        restricted, excluded = restricted_and_excluded_loss(
            p._replace(V=V), te_pairs, te_lab, self.act, self._projectors, k)
        extra = authors_statistics(Freal, Ytr, Vreal) if self.authors_stats else {}
        return {
            **extra,
            "train_loss": self.loss(pred_tr, Ytr), "test_loss": self.loss(pred_te, Yte),
            "train_acc": accuracy(pred_tr, tr_lab), "test_acc": accuracy(pred_te, te_lab),
            "gf_norm": gfn, "gf_ratio": gfr,
            "diag_FtF": diag_node, "diag_P1FFt": diag_sample,
            "cos_W": state.cos_W, "cos_V": state.cos_V,
            "dist0_W": cosine_distance(p.W, consts.init.W),
            "dist0_V": cosine_distance(V, consts.init.V),
            "W_norm": jnp.linalg.norm(p.W), "V_norm": jnp.linalg.norm(V),
            "restricted_loss": restricted, "excluded_loss": excluded,
            "ipr_mean": jnp.mean(ipr(power)), "gini_mean": jnp.mean(gini(power)),
            "concentrated_frac": concentration(power),
            "trivial_power_share": trivial_power_share(power),
            "energy_mean": jnp.mean(self.node_energy(p.W, consts.train_idx)),
            "irrep_share": jnp.sum(power, axis=0) / jnp.sum(power),
            "node_power": power[:self.n_tracked],
        }
