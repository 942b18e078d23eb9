"""The Li2 world on the shared core: recipes, study, events, figures, claims."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from typer.testing import CliRunner

from learndyn.cli import app
from learndyn.errors import ConfigError
from learndyn.groups import parse_group
from learndyn.grokking.analysis import concentration, grokking_events, resolve_variant
from learndyn.grokking.problem import Li2Problem
from learndyn.recipes import load_recipe

LI2_IDS = {"li2.wd_needed", "li2.gf_grows_before_grokking", "li2.v_moves_before_w",
           "li2.features_are_irreps", "li2.large_lr_memorises", "li2.zero_init_faster",
           "li2.complex_faster", "li2.gram_nearly_diagonal", "li2.reference_vs_paper.fig3",
           "li2.reference_vs_paper.fig7.loss", "li2.scaling_log_m_over_m",
           "li2.sharp_transition"}


@pytest.fixture(scope="session")
def li2_ledger(tmp_path_factory):
    """Every li2 claim at smoke scale (runs the four li2 recipes once)."""
    runs = tmp_path_factory.mktemp("li2runs")
    r = CliRunner().invoke(app, ["claims", "--paper", "li2-2025", "--scale", "smoke",
                                 "--runs-dir", str(runs), "--json"])
    assert r.exit_code == 0, r.output
    return runs, json.loads(r.output)


def test_single_frequency_node_has_power_in_one_irrep():
    M, K, k = 23, 4, 5
    prob = Li2Problem(parse_group(f"Z{M}"), K, n_train=100)
    m = np.arange(M)
    u = 0.7 * np.cos(2 * np.pi * k * m / M) + 0.2 * np.sin(2 * np.pi * k * m / M)
    inv = (-m) % M
    W = np.stack([np.concatenate([u, u[inv]])] * K, axis=1)   # w = [u; P u]
    power = np.asarray(prob.node_power(jnp.asarray(W, jnp.float32)))
    share = power / power.sum(1, keepdims=True)
    # all power in real irrep k (frequency k); float32 rounding ~1e-6
    np.testing.assert_allclose(share[:, k], 1.0, atol=1e-5)
    assert float(concentration(jnp.asarray(power))) == 1.0


def test_grokking_events():
    steps = np.array([0, 1, 2, 5, 10, 20])
    tr = np.array([0.1, 0.5, 0.995, 1.0, 1.0, 1.0])
    te = np.array([0.0, 0.0, 0.1, 0.5, 0.991, 1.0])
    e = grokking_events(steps, tr, te)
    assert (e["memorisation_step"], e["generalisation_step"], e["delay"]) == (2, 10, 8)
    assert e["outcome"] == "generalises"
    e = grokking_events(steps, tr, te * 0.5)
    assert e["outcome"] == "memorises" and e["generalisation_step"] is None


@pytest.mark.parametrize("override,field", [
    ({"group": "Z0"}, "group"), ({"group": "S7"}, "group"), ({"model.K": 0}, "model.K"),
    ({"data.n": 100000}, "data.n"), ({"data.ratio": 0.5}, "data"),
    ({"train.optimizer": "lion"}, "train.optimizer"), ({"model.actv": "x2"}, "model.actv"),
])
def test_li2_bad_fields_one_line(override, field):
    with pytest.raises(ConfigError) as err:
        rcp = load_recipe("li2-fig3", "smoke", override)
        [resolve_variant(rcp, v) for v in rcp.variants]
    assert field in str(err.value) and "\n" not in str(err.value)


def test_vmapped_hyperparameters_match_separate_runs():
    """lr and weight decay are per-run constants: a batch of 2 settings equals 2 single runs."""
    from learndyn.core.trainer import Trainer
    prob = Li2Problem(parse_group("Z7"), 16, n_train=30)
    key = jax.random.PRNGKey(0)
    tr = Trainer(prob.step, prob.observe, obs_dims=prob.obs_dims, takes_consts=True)
    both, c_both = jax.vmap(prob.init)(jnp.stack([key, key]), jnp.array([1e-3, 5e-3]),
                                       jnp.array([0.0, 1e-3]), jnp.ones(2))
    b, _, _ = tr.advance(both, 20, consts=c_both)
    for i, (lr, wd) in enumerate([(1e-3, 0.0), (5e-3, 1e-3)]):
        one, c_one = jax.vmap(prob.init)(key[None], jnp.array([lr]), jnp.array([wd]),
                                         jnp.ones(1))
        o, _, _ = tr.advance(one, 20, consts=c_one)
        # same math, batched vs not: float32 rounding only
        np.testing.assert_allclose(b.params.W[i], o.params.W[0], rtol=1e-4, atol=1e-6)


def test_li2_ledger_and_run_folders(li2_ledger):
    runs, rows = li2_ledger
    _li2_numbers_kept(runs)
    assert LI2_IDS <= {r["id"] for r in rows}
    # the Fig. 5 claims ran the li2-fig5 sweep at its smoke scale, into the runs folder
    assert (runs / "sweeps" / "li2-fig5-smoke" / "phase.json").exists()
    fig5 = {r["id"]: r for r in rows}["li2.scaling_log_m_over_m"]
    assert fig5["measured"].startswith("sweep li2-fig5 --scale smoke"), fig5
    for r in rows:
        assert set(r) == {"id", "claim", "verdict", "measured", "expected"}
        assert r["verdict"] in ("verified", "refuted", "inconclusive")
    fig3 = runs / "li2-fig3-smoke-s3"
    summary = json.loads((fig3 / "summary.json").read_text())
    for v in summary["variants"].values():
        for e in v["per_seed"]["events"]:
            assert e["outcome"] in ("generalises", "memorises", "transitioning", "neither",
                                    "diverged")
        assert len(v["per_seed"]["concentrated_node_fraction"]) == 3
    for name in ("curves", "irrep_power_over_time", "final_spectrum", "energy_per_node"):
        assert (fig3 / "figures" / f"{name}.png").stat().st_size > 10_000
    # both weight decays share shapes: one vectorised batch
    assert summary["n_batches"] == 1
    # real and complex weights have different dtypes: two batches
    f10 = json.loads((runs / "li2-fig10-11-smoke-s2" / "summary.json").read_text())
    assert f10["n_batches"] == 2


def test_large_lr_claim_with_collapsed_runs_is_inconclusive():
    """Runs whose weights decayed to zero have no node energy (None in the summary): the
    claim reads them without failing, and with no generalising lr it cannot decide."""
    from learndyn.grokking import claims as li2_claims

    def variant(lr, frac, energies):
        return {"settings": {"lr": lr}, "fraction_generalising": frac, "final_test_acc": 0.008,
                "per_seed": {"energy_mean": energies}}

    class Src:
        def __init__(self, vs):
            self.vs = vs

        def get(self, name):
            return type("Run", (), {"summary": {"variants": self.vs}})()

    check = li2_claims._lr
    collapsed = Src({"a": variant(1e-3, 0.0, [None, None]), "b": variant(5e-3, 0.0, [7.5, None])})
    res = check(collapsed)
    assert res.verdict == "inconclusive" and "n/a" in res.measured
    split = Src({"a": variant(1e-3, 1.0, [0.6, None]), "b": variant(5e-3, 0.0, [5.0, 5.2])})
    assert check(split).verdict == "verified"
    fast = Src({"a": variant(1e-3, 1.0, [0.6]), "b": variant(5e-3, 1.0, [5.0])})
    assert check(fast).verdict == "refuted"


def test_active_nodes_drop_decayed_nodes():
    """A node counts as active when its norm is >= ACTIVE_NORM (0.1) of the run's largest:
    squared norms 1, 0.5, 0.011 pass the 0.01 threshold, 0.009 and an all-zero node do not."""
    import numpy as np
    from learndyn.grokking.analysis import active_nodes
    sq = np.array([1.0, 0.5, 0.011, 0.009, 0.0])
    power = np.stack([sq * 0.25, sq * 0.75], axis=-1)        # (K, 2 irreps), rows sum to sq
    assert np.asarray(active_nodes(power)).tolist() == [True, True, True, False, False]


def test_runs_in_groups_match_one_vmapped_batch(monkeypatch):
    """Stepping and observing runs one at a time (the CPU path for large problems, forced
    here with a tiny group budget) gives the numbers of one vmapped batch, and
    `observer(keys)` computes exactly those observables."""
    import learndyn.grokking.problem as problem_mod
    from learndyn.core.trainer import Trainer

    def batch_after(prob, n_steps=5):
        keys = jax.random.split(jax.random.PRNGKey(1), 3)
        s, c = jax.vmap(prob.init)(keys, jnp.full(3, 2e-3), jnp.array([0.0, 1e-3, 1e-2]),
                                   jnp.ones(3))
        s, _, _ = Trainer(prob.step, prob.observe, takes_consts=True).advance(s, n_steps,
                                                                              consts=c)
        return s, jax.jit(jax.vmap(prob.observe))(s, c), jax.jit(jax.vmap(
            prob.observer(("test_acc", "gf_norm"))))(s, c)

    vmapped = batch_after(Li2Problem(parse_group("Z7"), 16, n_train=30))
    monkeypatch.setattr(problem_mod, "RUN_GROUP_BYTES", 1)
    one_by_one = batch_after(Li2Problem(parse_group("Z7"), 16, n_train=30))
    # float32 rounding of batched vs unbatched kernels only
    np.testing.assert_allclose(one_by_one[0].params.W, vmapped[0].params.W, rtol=1e-4, atol=1e-6)
    for k in ("train_loss", "gf_norm", "diag_FtF", "energy_mean", "node_power"):
        np.testing.assert_allclose(one_by_one[1][k], vmapped[1][k], rtol=1e-4, atol=1e-6)
    for sub in (vmapped[2], one_by_one[2]):
        assert set(sub) == {"test_acc", "gf_norm"}
        np.testing.assert_allclose(sub["gf_norm"], vmapped[1]["gf_norm"], rtol=1e-5)


def test_divergence_guard_inside_grouped_runs(monkeypatch):
    """With the trainer's run_map (runs one at a time), a diverging run is still frozen at its
    last finite state and recorded as diverged, and the other runs are untouched."""
    import learndyn.grokking.problem as problem_mod
    from learndyn.core.schedule import record_steps
    from learndyn.core.trainer import Trainer

    monkeypatch.setattr(problem_mod, "RUN_GROUP_BYTES", 1)   # group of one: the map path
    prob = Li2Problem(parse_group("Z7"), 16, n_train=30)
    key = jax.random.PRNGKey(0)
    s0, c0 = jax.vmap(prob.init)(jnp.stack([key] * 3), jnp.array([1e-3, 2e-3, 1e6]),
                                 jnp.full(3, 1e-3), jnp.ones(3))
    tr = Trainer(prob.step, prob.observer(("train_loss",)), diverge_above=1e12,
                 run_map=prob.map_runs, takes_consts=True)
    res = tr.run(s0, record_steps(20, 5, 5), consts=c0)
    assert res.status == ["ok", "ok", "diverged"]
    assert np.all(np.isfinite(np.asarray(res.state.params.W[2])))   # frozen, finite
    first2 = lambda tree: jax.tree_util.tree_map(lambda x: x[:2], tree)  # noqa: E731
    plain = Trainer(prob.step, prob.observer(("train_loss",)), takes_consts=True).run(
        first2(s0), record_steps(20, 5, 5), consts=first2(c0))
    # float32 rounding only (the same per-run computation, mapped either way)
    np.testing.assert_allclose(res.records.train_loss.values[:, :2],
                               plain.records.train_loss.values, rtol=1e-5)


def _li2_numbers_kept(runs):
    """Each Li2 recipe's smoke summary (the ledger's run) against its committed baseline
    (scripts/check_summaries.py's comparison), up to KNOWN changes."""
    from _numbers_kept import assert_numbers_kept
    for recipe in ("li2-fig3", "li2-fig7", "li2-fig10-11", "li2-fig14-16"):
        (folder,) = [p for p in runs.iterdir()       # the recipe's own run (not a --set one)
                     if p.name.startswith(f"{recipe}-smoke") and "-set" not in p.name]
        assert_numbers_kept(recipe, json.loads((folder / "summary.json").read_text()))


def test_li2_paper_text_preset_keeps_the_numbers_before_the_reference_preset(tmp_path):
    """li2-fig3's paper_text preset is learndyn's settings before issue 22: its smoke summary
    is the one committed then (results/smoke-baseline/v0), up to KNOWN changes."""
    from _numbers_kept import assert_numbers_kept
    from learndyn.recipes import run_recipe
    rcp = load_recipe("li2-fig3", "smoke", {"preset": "paper_text"})
    summary = run_recipe(rcp, tmp_path / "run", scale="smoke")
    assert_numbers_kept("li2-fig3", summary, baseline="v0")
