"""Recipe schema of the Li2 (group arithmetic) world.

Options are objects: ``train.loss``, ``train.optimizer`` and ``model.activation`` (and a
variant's ``optimizer`` / ``activation``) are discriminated unions (``core.options``) whose
members build what they name (``Adam().build()`` is the optimiser factory the problem
calls). A recipe writes a member by its name alone, ``optimizer = "adam"`` (the spelling of
every shipped recipe), or as a table with its parameters,
``optimizer = {type = "sgd", momentum = 0.5}``; a member whose parameters are all at their
defaults is written back (recipe.toml) by its name. ``train.loss_reduction`` is the TOML
spelling of the loss's ``reduction``: ``loss = "mse"`` with ``loss_reduction = "sum"`` is
``loss = {type = "mse", reduction = "sum"}``.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Callable, Literal

import jax.numpy as jnp
from pydantic import BeforeValidator, Field, field_validator, model_serializer, model_validator

from learndyn.core.activations import Activation
from learndyn.core.config import MAX_FLOATS, FiniteFloat, Label, RecipeBase, Strict
from learndyn.core.optim import make_optimizer
from learndyn.core.options import named_union
from learndyn.core.schedule import Schedule
from learndyn.grokking.losses import cross_entropy, mse_class_centred, mse_sample_centred


def _check_group(spec: str) -> str:
    from learndyn.groups import parse_group
    parse_group(spec)  # raises ConfigError("group", ...) naming the allowed forms
    return spec


class Option(Strict):
    """A member of an option union: ``type`` names it, ``build`` makes the object. Written
    back as its name alone when its other fields are at their defaults."""

    @model_serializer(mode="wrap")
    def _by_name(self, handler):
        fields = type(self).model_fields
        if all(getattr(self, k) == f.default for k, f in fields.items() if k != "type"):
            return self.type
        return handler(self)


def _name_to_table(v):
    # a member written by its name alone ("adam") is the table {type = "adam"}
    return {"type": v} if isinstance(v, str) else v


def by_name(*members):
    """The annotation of an option field: one of `members`, by name or as a table."""
    return Annotated[named_union(*members), BeforeValidator(_name_to_table)]


# -- losses: loss(pred (n, M), Y (n, M) one-hot) -> () ------------------------------------------

class MseLoss(Option):
    """Paper Eq. 1, the sample-centred MSE 1/2 ||P1 (Y - pred)||_F^2; "mean": divided by n
    (the reference code's scale), "sum": as written."""

    type: Literal["mse"] = "mse"
    reduction: Literal["mean", "sum"] = "mean"

    def build(self) -> Callable:
        return partial(mse_sample_centred, reduction=self.reduction)


class MseClassLoss(Option):
    """The class-centred MSE of the reference code (losses.mse_class_centred)."""

    type: Literal["mse_class"] = "mse_class"
    reduction: Literal["mean", "sum"] = "mean"

    def build(self) -> Callable:
        return partial(mse_class_centred, reduction=self.reduction)


class CrossEntropyLoss(Option):
    """Mean cross-entropy of the logits (a mean over samples only)."""

    type: Literal["ce"] = "ce"
    reduction: Literal["mean"] = "mean"

    def build(self) -> Callable:
        return cross_entropy


Loss = by_name(MseLoss, MseClassLoss, CrossEntropyLoss)


# -- optimisers: build() -> f(lr, weight_decay) -> optax.GradientTransformation ------------------
# (lr and weight decay are per-run constants of a batch, given to the factory at every step)

class Sgd(Option):
    """Heavy-ball SGD with coupled L2 (core.optim)."""

    type: Literal["sgd"] = "sgd"
    momentum: FiniteFloat = Field(0.9, ge=0, lt=1)

    def build(self) -> Callable:
        return partial(make_optimizer, "sgd", momentum=self.momentum)


class Adam(Option):
    """Adam with coupled L2, as torch.optim.Adam(weight_decay=eta) (core.optim)."""

    type: Literal["adam"] = "adam"

    def build(self) -> Callable:
        return partial(make_optimizer, "adam")


class AdamW(Option):
    """AdamW, decoupled weight decay (core.optim)."""

    type: Literal["adamw"] = "adamw"

    def build(self) -> Callable:
        return partial(make_optimizer, "adamw")


class Muon(Option):
    """Muon on W, AdamW on the rest (core.optim)."""

    type: Literal["muon"] = "muon"
    beta: FiniteFloat = Field(0.95, ge=0, lt=1, description="Muon's Nesterov momentum")

    def build(self) -> Callable:
        return partial(make_optimizer, "muon", muon_beta=self.beta)


class MuonAuthors(Option):
    """The authors' Muon (core.optim "muon_authors"): EMA momentum 0.99 without Nesterov,
    their five Newton-Schulz triples, no rescaling, on W; Adam with coupled L2 on V."""

    type: Literal["muon_authors"] = "muon_authors"
    beta: FiniteFloat = Field(0.99, ge=0, lt=1, description="the EMA of the momentum")

    def build(self) -> Callable:
        return partial(make_optimizer, "muon_authors", muon_beta=self.beta)


Optimizer = by_name(Sgd, Adam, AdamW, Muon, MuonAuthors)


# -- activations: build(a, b) -> core.activations.Activation --------------------------------------
# (a and b are model.act_a / model.act_b, read by "quad" only)

class _Act(Option):
    def build(self, a: float = 1.0, b: float = 1.0) -> Activation:
        return Activation(self.type, a, b)

    @property
    def holomorphic(self) -> bool:
        """Defined for complex weights (a polynomial)."""
        return Activation(self.type).polynomial


class X2(_Act):
    type: Literal["x2"] = "x2"


class Relu(_Act):
    type: Literal["relu"] = "relu"


class Silu(_Act):
    type: Literal["silu"] = "silu"


class Relu2(_Act):
    type: Literal["relu2"] = "relu2"


class Quad(_Act):
    """a x + b x^2 (model.act_a, model.act_b)."""

    type: Literal["quad"] = "quad"


ACTIVATION_MEMBERS = (X2, Relu, Silu, Relu2, Quad)
ActivationChoice = by_name(*ACTIVATION_MEMBERS)

COMPLEX_ACTIVATIONS = tuple(m.model_fields["type"].default for m in ACTIVATION_MEMBERS
                            if m().holomorphic)
"""The holomorphic activations, the only ones defined for complex weights (grokking.model)."""


# -- the ridge output layer: build() -> None, or f(F, Y, weight_decay) -> V (K, M) --------------
# (V is then not trained: at every step it is the ridge solution on the training pairs)

class NoRidge(Option):
    """V is a trained parameter (no ridge)."""

    type: Literal["none"] = "none"

    def build(self):
        return None


class SampleCentredRidge(Option):
    """learndyn's ridge V (model.ridge_V): F and Y centred over samples; lam defaults to the
    run's weight decay eta (the paper's ridge penalty)."""

    type: Literal["sample_centred"] = "sample_centred"
    lam: FiniteFloat | None = Field(None, gt=0, description="ridge (default: weight decay)")

    def build(self) -> Callable:
        from learndyn.grokking.model import ridge_V
        lam = self.lam

        def fit(F, Y, wd):
            return ridge_V(F, Y, lam if lam is not None else jnp.maximum(wd, 1e-6))
        return fit


class AuthorsRidge(Option):
    """The authors' set_weight_reg (model.ridge_V_authors): F uncentred, Y class-centred, a
    fixed lam (1e-3 in every MSE config of theirs from 2025-05-31 to 2025-11-28)."""

    type: Literal["authors"] = "authors"
    lam: FiniteFloat = Field(1e-3, gt=0)

    def build(self) -> Callable:
        from learndyn.grokking.model import ridge_V_authors
        lam = self.lam
        return lambda F, Y, wd: ridge_V_authors(F, Y, lam)


def _ridge_spelling(v):
    # ridge_V = true / false (the spelling before the forms) is the sample-centred form / none
    if isinstance(v, bool):
        v = "sample_centred" if v else "none"
    return _name_to_table(v)


Ridge = Annotated[named_union(NoRidge, SampleCentredRidge, AuthorsRidge),
                  BeforeValidator(_ridge_spelling)]


class ModelCfg(Strict):
    K: int = Field(2048, ge=1, le=1_000_000, description="hidden width")
    activation: ActivationChoice = X2()
    act_a: FiniteFloat = Field(1.0, description="coefficient a of the quad activation (finite)")
    act_b: FiniteFloat = Field(1.0, gt=0, description="coefficient b of the quad activation")
    complex_weights: bool = False
    init_seed: int | None = Field(None, ge=0, le=2**32 - 1, description="draw every run's "
                                  "initial weights from this seed (held fixed across seeds); "
                                  "default: each run's own seed")
    complex_init: Literal["independent", "real_cast"] = Field(
        "independent", description="complex weights: real and imaginary parts drawn "
        "independently, or real weights cast to complex (the authors' code)")
    v_scale: FiniteFloat = Field(1.0, ge=0, description="V-init multiplier (0 = zero-init V)")
    ridge_V: Ridge = NoRidge()
    n_residual: int = Field(0, ge=0, le=16)
    residual: Literal["skip_outside", "skip_inside"] = Field(
        "skip_outside", description="residual layer: h + act(h R) (learndyn) or "
        "act(h + h R) (the authors' code)")


class DataCfg(Strict):
    ratio: FiniteFloat | None = Field(None, gt=0, lt=1, description="training fraction of the M^2 pairs")
    n: int | None = Field(None, ge=1, description="number of training pairs")
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="draw every run's "
                             "train/test split from this seed (held fixed across seeds); "
                             "default: each run's own seed")
    critical: bool = Field(False, description="the authors' critical split: a training "
                           "fraction 2.7482 ln(M) / M (natural log), times d_max / 2 for a "
                           "non-Abelian group (grokking.data.critical_ratio)")

    @model_validator(mode="after")
    def _one(self):
        given = sum(x is not None and x is not False for x in (self.ratio, self.n, self.critical or None))
        if given != 1:
            raise ValueError("data: give exactly one of ratio, n, critical = true")
        return self


class TrainCfg(Strict):
    loss: Loss = MseLoss()
    optimizer: Optimizer = Adam()
    lr: FiniteFloat = Field(1e-3, gt=0)
    weight_decay: FiniteFloat = Field(2e-4, ge=0)
    epochs: int = Field(1000, ge=1, le=100_000_000)
    # A run diverges when its loss is non-finite or exceeds diverge_factor x its initial loss
    # (the full-batch training loss of the first update; inf: off, the one float field that may
    # be infinite; nan is refused by gt). 1e4 is far above what a
    # healthy run does: measured on the CPU, the recorded training loss never exceeds its
    # initial value (max 0.998x on li2-fig7's paper setting, Z127, K = 1024, Adam 1e-3 to
    # 5e-3, first 400 epochs; max 0.99x in every li2 smoke recipe, Adam up to 5e-2), while
    # Adam at lr 1e3 drives it from ~0.5 to ~5e8 (paper scale, 1e9 x) or ~2e22 (smoke).
    diverge_factor: float = Field(1e4, gt=1)

    @model_validator(mode="before")
    @classmethod
    def _loss_reduction(cls, data):
        """loss_reduction (the TOML spelling) becomes the loss's reduction."""
        if not isinstance(data, dict) or "loss_reduction" not in data:
            return data
        data = dict(data)
        reduction = data.pop("loss_reduction")
        loss = _name_to_table(data.get("loss", "mse"))
        if isinstance(loss, dict) and "reduction" not in loss:
            data["loss"] = {**loss, "reduction": reduction}
        else:
            raise ValueError("train.loss_reduction: the loss table has its own reduction; "
                             "give it once (loss.reduction or loss_reduction)")
        return data


class VariantCfg(Strict):
    """One setting compared in a recipe; unset fields take the recipe's values."""

    name: Label = Field(description="shown in tables and figures; 1 to 100 printable characters")
    group: str | None = None
    K: int | None = Field(None, ge=1)
    lr: FiniteFloat | None = Field(None, gt=0)
    weight_decay: FiniteFloat | None = Field(None, ge=0)
    v_scale: FiniteFloat | None = Field(None, ge=0)
    complex_weights: bool | None = None
    ratio: FiniteFloat | None = Field(None, gt=0, lt=1)
    optimizer: Optimizer | None = None
    activation: ActivationChoice | None = None
    n_residual: int | None = Field(None, ge=0, le=16)

    _g = field_validator("group")(lambda cls, v: v if v is None else _check_group(v))


class Li2Recipe(RecipeBase):
    """Two-layer networks on group arithmetic (Tian 2025, Li2), one or more variants x seeds."""

    study: Literal["li2"] = "li2"
    group: str = "Z71"
    model: ModelCfg = ModelCfg()
    data: DataCfg = DataCfg(n=2016)
    train: TrainCfg = TrainCfg()
    record: Schedule = Schedule()
    variants: list[VariantCfg] = Field([VariantCfg(name="default")], min_length=1,
                                       description="settings compared (at least one)")
    n_tracked: int = Field(32, ge=1, description="nodes whose irrep power is recorded over time")
    authors_stats: bool = Field(False, description="also record the authors' statistics "
                                "(grokking.observables.AUTHORS_STATS; one n x n product per "
                                "record)")

    _g = field_validator("group")(lambda cls, v: _check_group(v))

    @model_validator(mode="after")
    def _variants(self):
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"variants: names must be unique, got {names}")
        run, weights = 0, 0
        for i, v in enumerate(self.variants):
            group, M, n = variant_split(self, v)
            if M < 2:
                raise ValueError(f"{'group' if v.group is None else f'variants.{i}.group'}: "
                                 f"{group} has {M} element; a train/test split needs M >= 2")
            if not 1 <= n < M * M:
                field = (f"variants.{i}.ratio" if v.ratio is not None else
                         "data.n" if self.data.n is not None else
                         "data.ratio" if self.data.ratio is not None else "data.critical")
                raise ValueError(f"{field}: gives {n} training pairs for variant {v.name!r} "
                                 f"(group {group}); allowed: 1 to M^2 - 1 = {M * M - 1}")
            cw = self.model.complex_weights if v.complex_weights is None else v.complex_weights
            act = self.model.activation if v.activation is None else v.activation
            if cw and not act.holomorphic:
                raise ValueError(f"model.activation: {act.type!r} is not defined for complex weights "
                                 f"(variant {v.name!r}); allowed: {list(COMPLEX_ACTIVATIONS)}")
            K = self.model.K if v.K is None else v.K
            run = max(run, K * M * M)             # one run's hidden activations on all M^2 pairs
            weights += self.seeds * 3 * K * 3 * M  # W (K, 2M), V (M, K) and optimizer state
        if run + weights > MAX_FLOATS:
            raise ValueError(f"model.K: K x M^2 (one run) + seeds x weights = {run + weights:.3g} "
                             f"floats is more than the {MAX_FLOATS:.3g} allowed; make model.K, "
                             "the group or seeds smaller")
        return self


def variant_split(recipe: "Li2Recipe", v: VariantCfg) -> tuple[str, int, int]:
    """(group, M, number of training pairs) of one variant (its fields override the recipe's)."""
    from learndyn.groups import parse_group, real_irreps
    from learndyn.grokking.data import critical_ratio
    group = recipe.group if v.group is None else v.group
    G = parse_group(group)
    M = G.order
    if v.ratio is not None:
        return group, M, int(v.ratio * M * M)
    if recipe.data.n is not None:
        return group, M, recipe.data.n
    if recipe.data.critical:
        # the authors' scaling_law_correction: 1 for their modular addition (every Abelian
        # group, Z_2 x Z_3 x ... included) and d_max / 2 for the non-Abelian collection, d_max
        # the largest (complex) irrep dimension; critical_ratio multiplies by d_max / 2
        d_max = 2 if G.is_abelian else max(ri.dim for ri in real_irreps(G))
        return group, M, int(critical_ratio(M, d_max) * M * M)
    return group, M, int(recipe.data.ratio * M * M)
