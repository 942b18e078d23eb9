"""A complete learndyn world in one file: linear regression by full-batch gradient descent,
with its exact loss curve as the theory.

Each run draws X (P x d, Gaussian), a teacher w* and noisy targets y = X w* + noise, and
descends L(w) = |X w - y|^2 / (2P) from w = 0. With H = X^T X / P = Q diag(h) Q^T and w_hat
the least-squares solution, gradient descent shrinks w_t - w_hat by (1 - lr h_i) per update
along q_i, so the loss after t updates is exactly
    L(t) = L_min + 1/2 sum_i h_i (1 - lr h_i)^(2t) (q_i . (w_0 - w_hat))^2.
Run it with `learndyn run linreg.toml` from this folder (see the README's "Your own world").
"""

from functools import partial
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from pydantic import Field

from learndyn.core.config import FiniteFloat, RecipeBase
from learndyn.core.schedule import Schedule
from learndyn.core.seeds import run_keys, seed_labels
from learndyn.core.theory import Theory
from learndyn.core.world import Phase


class LinRegRecipe(RecipeBase):
    study: Literal["linreg_world:WORLD"] = "linreg_world:WORLD"
    dim: int = Field(10, ge=1, le=10_000)
    samples: int = Field(40, ge=1, le=100_000)
    noise: FiniteFloat = Field(0.1, ge=0)
    lr: FiniteFloat = Field(0.1, gt=0)
    epochs: int = Field(300, ge=1)
    record: Schedule = Schedule(dense_until=50, every=10)


def run_data(cfg, key):
    """One run's constants: inputs X (P, d) and targets y (P,)."""
    kx, kw, kn = jax.random.split(key, 3)
    X = jax.random.normal(kx, (cfg.samples, cfg.dim))
    noise = cfg.noise * jax.random.normal(kn, (cfg.samples,))
    return X, X @ jax.random.normal(kw, (cfg.dim,)) + noise


def loss(w, data):
    X, y = data
    return 0.5 * jnp.mean((X @ w - y) ** 2)


def exact_loss(cfg, result, consts):
    """The theory: L(t) at every recorded step, per run, in float64, from the run's data."""
    t = result.records.step.values.astype(float)[:, None]
    curves = []
    for X, y in zip(*(np.asarray(a, float) for a in consts)):
        h, Q = np.linalg.eigh(X.T @ X / cfg.samples)
        w_hat = np.linalg.lstsq(X, y, rcond=None)[0]
        c = Q.T @ (0.0 - w_hat)                                  # w_0 = 0
        decay = np.abs(1 - cfg.lr * h) ** (2 * t)
        curves.append(0.5 * np.mean((X @ w_hat - y) ** 2) + 0.5 * (decay * h * c**2).sum(-1))
    return {"loss": np.stack(curves, axis=1)}                   # (step, run)


class LinRegWorld:
    study, papers, schema = "linreg_world:WORLD", (), LinRegRecipe

    def phases(self, cfg):
        def step(w, t, data):
            return w - cfg.lr * jax.grad(loss)(w, data), loss(w, data)
        yield Phase("train", step, lambda w, data: {"loss": loss(w, data)},
                    state0=jnp.zeros((cfg.seeds, cfg.dim)),
                    consts=jax.vmap(partial(run_data, cfg))(run_keys(cfg.seed, cfg.seeds)),
                    record_steps=cfg.record.steps(cfg.epochs),
                    run_coords={"seed": seed_labels(cfg.seed, cfg.seeds)})

    def analyse(self, cfg, results):
        final = results["train"].records.loss.values[-1]
        return {"recipe": cfg.name, "seeds": cfg.seeds, "final_loss": final.tolist()}

    def theories(self, cfg):
        return [Theory("exact", "train", ("loss",), "closed_form", partial(exact_loss, cfg),
                       "exact loss curve of gradient descent")]

    def figures(self, cfg, results, summary, folder):
        return {}

    def claims(self):
        return []


WORLD = LinRegWorld()
