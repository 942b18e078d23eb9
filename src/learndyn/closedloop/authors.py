"""The authors' own saved run of Ger & Barak Figs. 1-2, beside ours.

``data/gb2025_authors_run.json`` holds the curves of the authors' saved run (their
repository's pickles, read once by ``scripts/import_authors_run.py``, which records the
repository, commit and files). The numbers compared here are computed from those curves by
the same functions that compute ours from our records, never typed in:

* closed loop: the final deployed (test) loss and the final effective gains (k1, k2);
* open-loop student: the peak of its deployed loss, the update where it peaks, the update
  after which it stays settled (within SETTLE_FACTOR of its final value), its final loss.

Their test curves are indexed by checkpoint, and checkpoint e was saved after e updates
(their epoch 0 is a forward pass only), so their index is an update count, like our steps.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data" / "gb2025_authors_run.json"
# The runs compared: recipe field `authors_run` -> the file's content
RUNS = ("gb2025-fig1",)
# A deployed-loss curve has settled from the first recorded update after which it stays
# within this factor of its final value. 2x: the authors' student falls from its peak (5e5)
# to within 2x of its final loss (6.3) in a few dozen updates and then drifts down slowly;
# a tighter factor would time that slow drift, not the return from the peak.
SETTLE_FACTOR = 2.0


@functools.cache
def authors_run() -> dict:
    """The saved run (JSON; its "provenance" names the repository, commit and files)."""
    return json.loads(DATA.read_text())


def settle_step(steps, loss) -> int | None:
    """The first step after which `loss` stays within SETTLE_FACTOR of its final value
    (None: the curve is not finite at its end)."""
    loss = np.asarray(loss, float)
    if not np.isfinite(loss[-1]):
        return None
    above = np.nonzero(~(loss <= SETTLE_FACTOR * loss[-1]))[0]
    return int(steps[0]) if len(above) == 0 else int(steps[min(above[-1] + 1, len(loss) - 1)])


def curve_numbers(steps, deployed, final_gains) -> dict:
    """The compared numbers of one phase of one run: final deployed loss, final gains, the
    deployed loss's peak, peak step and settle step."""
    steps, d = np.asarray(steps), np.asarray(deployed, float)
    finite = np.isfinite(d)
    if not finite.any():
        return {"initial_deployed_loss": None, "final_deployed_loss": None,
                "final_gains": None, "peak_deployed_loss": None, "peak_over_initial": None,
                "peak_step": None, "settle_step": None}
    i = int(np.nanargmax(d))
    return {"initial_deployed_loss": float(d[0]) if finite[0] else None,
            "final_deployed_loss": float(d[-1]) if finite[-1] else None,
            "final_gains": None if final_gains is None else [float(g) for g in final_gains],
            "peak_deployed_loss": float(d[i]),
            "peak_over_initial": float(d[i] / d[0]) if finite[0] and d[0] > 0 else None,
            "peak_step": int(steps[i]),
            "settle_step": settle_step(steps, d)}


def authors_numbers() -> dict:
    """{phase: curve_numbers} of the authors' saved run."""
    run = authors_run()
    out = {}
    for phase in ("closed", "open"):
        test = run[phase]["test_loss"]
        out[phase] = curve_numbers(np.arange(len(test)), test, run[phase]["gains"][-1])
    return out


# The settings of the authors' saved run, read off their code (code/train_non_linear.ipynb,
# code/utils.py: train_rnn, train_rnn_teacher_student): a run of ours is comparable with
# theirs only where it has these.
AUTHORS_SETTINGS = {
    "plant.type": "k_integrator", "plant.k": 2, "plant.dt": 1.0, "agent.n": 100,
    "agent.activation": "tanh", "task.horizon": 50, "task.x0_range": 1.0, "task.beta": 0.005,
    "task.time_reduction": "sum", "task.state_reduction": "mean", "task.control_batch": "sum",
    "task.deployed": "state_cost", "train.optimizer": "sgd", "train.lr": 0.01,
    "train.clip": 1.0, "train.batch": 100, "train.batch_reduction": "mean",
    "train.epochs": 1000, "open_loop.inputs": "white_noise", "open_loop.epochs": 1000,
    "open_loop.time_reduction": "sum",
}


_ABSENT = "(absent)"


def _field(recipe, dotted: str):
    """The recipe's value at a dotted path; _ABSENT where its option has no such field (a
    cart-pole plant has no `k`)."""
    x = recipe
    for part in dotted.split("."):
        x = getattr(x, part, _ABSENT)
    return x


def differs(recipe) -> list[str]:
    """The recipe's fields that differ from the authors' run ("field = ours (authors: x)")."""
    out = []
    for dotted, theirs in AUTHORS_SETTINGS.items():
        ours = _field(recipe, dotted)
        if dotted == "open_loop.epochs" and ours is None:
            ours = recipe.train.epochs
        if ours != theirs:
            out.append(f"{dotted} = {ours if ours is _ABSENT else repr(ours)} "
                       f"(authors: {theirs!r})")
    return out


# the numbers put side by side, per phase (the claim reads the same list)
COMPARED = {"closed": ("initial_deployed_loss", "final_deployed_loss", "final_gains"),
            "open": ("initial_deployed_loss", "peak_deployed_loss", "peak_over_initial",
                     "peak_step", "settle_step", "final_deployed_loss")}
# the numbers the claim gb.matches_authors_run decides on. Not the initial loss: the
# authors' checkpoint-0 test loss is 6.5x ours while their peak and final losses agree
# with ours within 5 % (measured, README), so it (and the peak over it) reflects something
# of their test evaluation at checkpoint 0 that their code does not show, not the dynamics.
CLAIMED = {"closed": ("final_deployed_loss", "final_gains"),
           "open": ("peak_deployed_loss", "peak_step", "settle_step", "final_deployed_loss")}


def side_by_side(recipe, results: dict, statuses: dict) -> dict:
    """The summary's "authors" table: {"differs": [fields unlike the authors' run],
    phase: {number: {"ours": median over healthy seeds, "per_seed": [...], "authors",
    "ratio"}}}; gains compare componentwise. `statuses`: {phase: per-seed statuses}."""
    from learndyn.core.summaries import finite_median
    theirs = authors_numbers()
    out: dict = {"run": recipe.authors_run, "differs": differs(recipe)}
    for phase, names in COMPARED.items():
        if phase not in results:
            continue
        ds = results[phase].records
        gains = ds.gains.values[-1, :, 0] if "gains" in ds else [None] * ds.sizes["run"]
        per = [curve_numbers(ds.step.values, ds.deployed_loss.values[:, r], gains[r])
               for r in range(ds.sizes["run"])]
        ok = [p for p, st in zip(per, statuses[phase]) if st == "ok"]
        out[phase] = {}
        for name in names:
            a, b = finite_median([p[name] for p in ok]), theirs[phase][name]
            if name == "final_gains":
                ratio = None if a is None else [x / y for x, y in zip(a, b)]
            else:
                ratio = None if a is None or b in (None, 0) else a / b
            out[phase][name] = {"ours": a, "per_seed": [p[name] for p in per], "authors": b,
                                "ratio": ratio}
    return out
