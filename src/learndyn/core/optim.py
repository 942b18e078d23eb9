"""The one optimiser factory of learndyn (every world), as optax transformations.

``make_optimizer(name, lr, weight_decay, momentum, clip=...)`` with ``name`` one of:

* ``"sgd"``: heavy-ball momentum with COUPLED L2: ``g <- g + wd * p``;
  ``m <- momentum * m + g``; ``p <- p - lr * m``
  (``chain(add_decayed_weights(wd), trace(momentum), scale(-lr))``).
* ``"adam"``: Adam with COUPLED L2 (the paper's ridge penalty ``eta``, as in
  ``torch.optim.Adam(weight_decay=eta)``): the decay term is added to the
  gradient BEFORE the moment estimates,
  ``chain(add_decayed_weights(wd), scale_by_adam(), scale(-lr))``.
* ``"adamw"``: ``optax.adamw(lr, weight_decay=wd)`` (decoupled:
  ``p <- p - lr * (adam_direction + wd * p)``).
* ``"muon"``: ``optax.contrib.muon`` with Muon restricted to the first-layer
  matrix ``W`` (2M, K) and AdamW on ``V``, the residual matrices ``R`` and
  anything else. What optax's muon does (checked in optax 0.2.8 source): by
  default it routes EVERY 2-D leaf (here also ``V`` and ``R``) to Muon and
  non-2-D leaves to ``optax.adamw``; we pass ``muon_weight_dimension_numbers``
  so only ``W`` is orthogonalised. The Muon branch is: Nesterov momentum
  (``beta = muon_beta``, default 0.95, bias-corrected) -> divide by the
  Frobenius norm -> 5 quintic Newton-Schulz steps with coefficients
  (3.4445, -4.7750, 2.0315), i.e. each singular value ``s`` of the
  normalised matrix goes through ``p(s) = a s + b s^3 + c s^5`` five times
  (approximate polar factor ``U S' V^T``: ``S'`` lands in about [0.68, 1.13]
  once ``s`` is not tiny, optax quotes ~U(0.5, 1.5); singular values far below
  ``||G||_F`` stay < 0.5 and zero ones stay zero) -> multiply by
  ``sqrt(max(1, fan_out / fan_in)) = sqrt(max(1, K / 2M))`` -> add
  ``wd * p`` (DECOUPLED weight decay) -> ``* (-lr)``. The AdamW branch uses
  b1 = 0.9, b2 = 0.999, eps = 1e-8, Nesterov, the same ``lr`` and decoupled
  weight decay ``wd``. ``W`` is recognised as the ``W`` field of a
  :class:`~learndyn.grokking.model.Params` (or a ``"W"`` dict key); for any
  other pytree optax's default (all 2-D leaves) is used.

* ``"muon_authors"``: the Muon of Tian's code (github yuandong-tian/understanding,
  ssl/real-dataset/cogo: ``muon_opt.py``, called from ``modular_addition_simple2.py`` with
  beta2 = 0.99, nesterov off, no rms or spectral compensation, use_bf16 off), built from
  optax transformations. On ``W`` only: momentum as an EMA ``m <- 0.99 m + 0.01 g`` (no
  bias correction, no Nesterov), divided by ``||m||_F + 1e-7``, then five Newton-Schulz
  steps ``X <- a X + (b A + c A^2) X`` (``A = X X^T`` on the wide orientation) with a
  different triple each step (AUTHORS_NS_COEFFS), no shape rescaling, DECOUPLED weight
  decay applied as ``p <- p (1 - lr wd)``, then ``p <- p - lr X``. Every other leaf (``V``,
  and ``R``, which their code leaves untrained under Muon) by Adam with COUPLED L2 at the
  same lr and weight decay (their ``optim.Adam(model.V.parameters(), weight_decay)``).

``clip`` (a positive number or None) clips the gradient's global norm first:
``chain(clip_by_global_norm(clip), <the optimiser>)``. With ``weight_decay = 0`` and
``momentum = 0`` the "sgd" and "adam" updates equal ``optax.sgd(lr)`` and ``optax.adam(lr)``
bit for bit (adding ``0 * p`` and a zero-decay trace change no value).

``momentum`` only affects ``"sgd"``; Adam-type methods use b1 = 0.9, b2 = 0.999.

Vmapping over learning rates / weight decays: nothing here branches on the
VALUE of ``lr`` or ``weight_decay``, so they may be traced ``jnp`` scalars.
Either build the optimiser inside the vmapped function::

    def run(lr, wd):
        opt = make_optimizer("adam", lr, wd)
        state = opt.init(params)
        ...
    jax.vmap(run)(lrs, wds)

or use ``inject=True`` (``optax.inject_hyperparams``): the values then live in
``state.hyperparams["learning_rate"]`` / ``["weight_decay"]`` and a batch of
states with different values can be vmapped (or changed between steps).
"""

from __future__ import annotations

import math
from numbers import Real

import jax
import jax.numpy as jnp
import optax
from optax.contrib import MuonDimensionNumbers
from optax.contrib import muon as _optax_muon

from learndyn.errors import ConfigError

__all__ = ["OPTIMIZERS", "conjugate_grads", "make_optimizer", "muon_dimension_numbers"]

OPTIMIZERS = ("sgd", "adam", "adamw", "muon", "muon_authors")

# the Newton-Schulz coefficient triples of the authors' zeropower_via_newtonschulz5, in order
AUTHORS_NS_COEFFS = ((4.01, -9.22, 5.80), (3.49, -6.38, 3.23), (3.34, -6.21, 3.20),
                     (3.64, -7.48, 4.43), (3.46, -5.35, 2.85))


def _orthogonalise_authors(G):
    """The authors' approximate polar factor of a matrix (AUTHORS_NS_COEFFS)."""
    wide = G.shape[-2] <= G.shape[-1]
    X = G if wide else jnp.swapaxes(G, -1, -2)
    X = X / (jnp.linalg.norm(X) + 1e-7)
    for a, b, c in AUTHORS_NS_COEFFS:
        A = X @ jnp.swapaxes(X, -1, -2).conj()
        X = a * X + (b * A + c * A @ A) @ X
    return X if wide else jnp.swapaxes(X, -1, -2)


def _scale_by_authors_ns() -> optax.GradientTransformation:
    def update(updates, state, params=None):
        return jax.tree.map(_orthogonalise_authors, updates), state
    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def _muon_labels(params):
    dims = _muon_dims_or_default(params)
    return jax.tree.map(lambda d: "muon" if d is not None else "adam", dims,
                        is_leaf=lambda d: d is None or isinstance(d, MuonDimensionNumbers))


def muon_dimension_numbers(params):
    """Tree of ``MuonDimensionNumbers`` (Muon) / ``None`` (AdamW): Muon on ``W`` only.

    Works on :class:`~learndyn.grokking.model.Params` (any NamedTuple with a ``W``
    field) and on dicts with a ``"W"`` key; returns ``None`` for other pytrees
    (meaning: optax's default, Muon on every 2-D leaf).
    """
    def nones(tree):
        return jax.tree.map(lambda _: None, tree)

    if hasattr(params, "_fields") and "W" in params._fields:
        return type(params)(
            **{f: (MuonDimensionNumbers() if f == "W" else nones(getattr(params, f))) for f in params._fields}
        )
    if isinstance(params, dict) and "W" in params:
        return {k: (MuonDimensionNumbers() if k == "W" else nones(v)) for k, v in params.items()}
    return None


def _muon_dims_or_default(params):
    dims = muon_dimension_numbers(params)
    if dims is None:
        return jax.tree.map(lambda x: MuonDimensionNumbers() if jnp.ndim(x) == 2 else None, params)
    return dims


def _check_number(field: str, value, *, positive: bool) -> None:
    # Only concrete Python/NumPy numbers are checked; traced jnp scalars pass through.
    if isinstance(value, bool):
        raise ConfigError(field, f"must be a number, got {value!r}")
    if isinstance(value, Real):
        v = float(value)
        ok = math.isfinite(v) and (v > 0 if positive else v >= 0)
        if not ok:
            raise ConfigError(field, f"must be a finite number {'> 0' if positive else '>= 0'}, got {value!r}")


def _build(name: str, learning_rate, weight_decay, momentum: float, muon_beta: float):
    if name == "sgd":
        return optax.chain(
            optax.add_decayed_weights(weight_decay),
            optax.trace(decay=momentum, nesterov=False),
            optax.scale_by_learning_rate(learning_rate),
        )
    if name == "adam":
        return optax.chain(
            optax.add_decayed_weights(weight_decay),
            optax.scale_by_adam(b1=0.9, b2=0.999, eps=1e-8),
            optax.scale_by_learning_rate(learning_rate),
        )
    if name == "adamw":
        return optax.adamw(learning_rate, b1=0.9, b2=0.999, eps=1e-8, weight_decay=weight_decay)
    if name == "muon_authors":
        muon = optax.chain(optax.ema(decay=muon_beta, debias=False), _scale_by_authors_ns(),
                           optax.add_decayed_weights(weight_decay),
                           optax.scale_by_learning_rate(learning_rate))
        adam = optax.chain(optax.add_decayed_weights(weight_decay),
                           optax.scale_by_adam(b1=0.9, b2=0.999, eps=1e-8),
                           optax.scale_by_learning_rate(learning_rate))
        return optax.multi_transform({"muon": muon, "adam": adam}, _muon_labels)
    # muon
    return _optax_muon(
        learning_rate=learning_rate,
        beta=muon_beta,
        weight_decay=weight_decay,
        adam_weight_decay=weight_decay,
        muon_weight_dimension_numbers=_muon_dims_or_default,
    )


def make_optimizer(
    name: str,
    lr,
    weight_decay=0.0,
    momentum: float = 0.9,
    *,
    muon_beta: float = 0.95,
    inject: bool = False,
    clip: float | None = None,
) -> optax.GradientTransformation:
    """Build an optimiser (see the module docstring for the exact update rules).

    Args:
      name: one of ``"sgd"``, ``"adam"``, ``"adamw"``, ``"muon"``.
      lr: learning rate; a float, a traced ``jnp`` scalar, or an optax schedule.
      weight_decay: ``eta``; coupled L2 for sgd/adam, decoupled for adamw/muon.
      momentum: heavy-ball coefficient for ``"sgd"``.
      muon_beta: Muon's (Nesterov) momentum coefficient.
      inject: wrap in ``optax.inject_hyperparams`` so ``learning_rate`` and
        ``weight_decay`` are stored in the optimiser state.
      clip: clip the gradient's global norm to this value first (None: no clipping).

    Raises:
      ConfigError: unknown ``name`` (field ``"optimizer"``), or a concrete
        ``lr <= 0``, ``weight_decay < 0``, ``momentum`` outside ``[0, 1)``.
    """
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise ConfigError("optimizer", f"unknown {name!r}; allowed: {', '.join(OPTIMIZERS)}")
    if not callable(lr):
        _check_number("lr", lr, positive=True)
    if not callable(weight_decay):
        _check_number("weight_decay", weight_decay, positive=False)
    if isinstance(momentum, bool) or not isinstance(momentum, Real) or not (0.0 <= float(momentum) < 1.0):
        raise ConfigError("momentum", f"must be a number in [0, 1), got {momentum!r}")
    if isinstance(muon_beta, bool) or not isinstance(muon_beta, Real) or not (0.0 <= float(muon_beta) < 1.0):
        raise ConfigError("muon_beta", f"must be a number in [0, 1), got {muon_beta!r}")
    if clip is not None:
        _check_number("clip", clip, positive=True)
    if inject:
        factory = lambda learning_rate, weight_decay: _build(name, learning_rate, weight_decay, momentum, muon_beta)
        opt = optax.inject_hyperparams(factory)(learning_rate=lr, weight_decay=weight_decay)
    else:
        opt = _build(name, lr, weight_decay, momentum, muon_beta)
    opt = optax.chain(optax.clip_by_global_norm(clip), opt) if clip is not None else opt
    return _standard_promotion(opt)


def _standard_promotion(tx: optax.GradientTransformation) -> optax.GradientTransformation:
    """`tx` with its init and update traced under JAX's standard dtype promotion.

    optax mixes its int32 step count with Python floats (Adam's bias correction
    ``1 - decay**count``), which JAX's strict promotion refuses; learndyn's tests run under
    strict promotion (tests/conftest.py), so the optimiser states here, locally, the rule its
    own code was written for. Nothing process-wide changes; the numbers are the same."""
    def init(params):
        with jax.numpy_dtype_promotion("standard"):
            return tx.init(params)

    def update(updates, state, params=None):
        with jax.numpy_dtype_promotion("standard"):
            return tx.update(updates, state, params)
    return optax.GradientTransformation(init, update)


def conjugate_grads(grads):
    """Conjugate the complex leaves of a gradient tree (real leaves unchanged).

    For a real loss of complex parameters ``jax.grad`` returns
    ``dL/dRe - i dL/dIm``; the steepest-descent step needs its conjugate
    ``dL/dRe + i dL/dIm``. Apply this before ``optimizer.update``.
    """
    return jax.tree.map(lambda g: jnp.conj(g) if jnp.iscomplexobj(g) else g, grads)
