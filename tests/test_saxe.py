"""The deep linear world (Saxe, McClelland & Ganguli 2014): GD against its exact theory.

Every run here is small (N <= 10, at most a few thousand full-batch updates), so the file
doubles as a fast, exact world for core's tests.
"""

import json
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from pydantic import ValidationError

from learndyn.core.trainer import Trainer
from learndyn.core.world import Phase
from learndyn.errors import ConfigError
from learndyn.linear import model, theory
from learndyn.linear.config import DeepLinearRecipe
from learndyn.linear.teacher import run_consts, run_rng, teacher_matrix
from learndyn.linear.world import WORLD
from learndyn.recipes import _deep_merge, _format_validation, read_toml

from conftest import REPO

S = np.array([3.0, 1.5, 0.75])


def load(name: str, scale: str, **over) -> DeepLinearRecipe:
    """A recipe of experiments/ at a scale, validated by the world's schema (a bad field is
    one ConfigError line, as the recipe loader gives)."""
    raw = read_toml(REPO / "experiments" / f"{name}.toml", "RECIPE")
    raw = _deep_merge(raw, raw.pop("scales", {}).get(scale, {}))
    return validate(_deep_merge(raw, over), name)


def validate(raw: dict, where: str = "recipe") -> DeepLinearRecipe:
    try:
        return DeepLinearRecipe.model_validate(raw)
    except ValidationError as err:
        raise _format_validation(err, DeepLinearRecipe, f"{where}: ") from None


def train(phase: Phase):
    """Train a phase with core's Trainer: through its consts argument where the Trainer has
    one, else with the constants carried in the state (the step never changes them)."""
    if "takes_consts" in Trainer.__dataclass_fields__:
        tr = Trainer(phase.step, phase.observe, obs_dims=phase.obs_dims, takes_consts=True)
        return tr.run(phase.state0, phase.record_steps, run_coords=phase.run_coords,
                      consts=phase.consts)

    def step(sc, t):
        W, loss = phase.step(sc[0], t, sc[1])
        return (W, sc[1]), loss
    tr = Trainer(step, lambda sc: phase.observe(sc[0], sc[1]), obs_dims=phase.obs_dims)
    res = tr.run((phase.state0, phase.consts), phase.record_steps, run_coords=phase.run_coords)
    res.state = res.state[0]
    return res


def run_gd(depth, lr, n, s=S, N=6, a0=1e-3, seed=0, init="balanced"):
    """One run's strengths (n + 1, r) and observables, by scanning the world's own step."""
    rng = run_rng(jax.random.PRNGKey(seed))
    c = run_consts(rng, s, N, N, N)
    Ws = (model.init_balanced(rng, c["U"], c["V"], depth, N, a0) if init == "balanced" else
          model.init_random(rng, depth, N, N, N, 1e-2))
    c = {k: jnp.asarray(v, jnp.float32) for k, v in c.items()}
    Ws = tuple(jnp.asarray(W, jnp.float32) for W in Ws)
    step = model.make_step(lr)

    def body(W, t):
        W, _ = step(W, t, c)
        return W, model.observe(W, c)
    _, obs = jax.jit(lambda W: jax.lax.scan(body, W, jnp.arange(n)))(Ws)
    first = model.observe(Ws, c)
    return {k: np.concatenate([np.asarray(first[k])[None], np.asarray(v)]) for k, v in obs.items()}


# -- teacher, data, init ---------------------------------------------------------------------

def test_whitened_data_and_balanced_init():
    rng = run_rng(jax.random.PRNGKey(3))
    c = run_consts(rng, S, 7, 5, 11)
    X, Y, P = c["X"], c["Y"], 11
    np.testing.assert_allclose(X @ X.T / P, np.eye(7), atol=1e-12)          # float64 build
    np.testing.assert_allclose(Y @ X.T / P, teacher_matrix(c), atol=1e-12)  # Sigma_yx = W_T
    np.testing.assert_allclose(c["U"].T @ c["U"], np.eye(3), atol=1e-12)
    Ws = model.init_balanced(rng, c["U"], c["V"], 4, 6, 1e-3)
    assert [W.shape for W in Ws] == [(6, 7), (6, 6), (6, 6), (5, 6)]
    # the product is U diag(a0) V^T and every layer carries a0^(1/4) on each mode
    np.testing.assert_allclose(np.asarray(model.product(Ws)), 1e-3 * c["U"] @ c["V"].T,
                               atol=1e-15)
    np.testing.assert_allclose(np.linalg.svd(Ws[1], compute_uv=False)[:3], 1e-3 ** 0.25)
    obs = model.observe(tuple(jnp.asarray(W, jnp.float32) for W in Ws),
                        {k: jnp.asarray(v, jnp.float32) for k, v in c.items()})
    np.testing.assert_allclose(obs["strength"], 1e-3, rtol=1e-5)
    np.testing.assert_allclose(obs["align_in"], 1, atol=1e-5)
    np.testing.assert_allclose(obs["align_out"], 1, atol=1e-5)


def test_loss_is_the_mode_decomposition():
    """On whitened data the loss is 1/2 sum (s_i - a_i)^2 + 1/2 ||off-mode part||^2, for a
    random (not decoupled) network too; float32 rounding of O(10) numbers: 1e-5."""
    obs = run_gd(2, 0.01, 1000, init="random")
    pred = theory.loss_from_strengths(obs["strength"], S, obs["off_mode"])
    np.testing.assert_allclose(obs["loss"], pred, rtol=1e-5, atol=1e-7)
    assert obs["off_mode"].max() > 1e-2        # the random start is not decoupled
    # and it is not aligned at first (the cosine of a random start is far from 1)
    assert obs["align_in"][0].min() < 0.9


# -- gradient descent against the theory -----------------------------------------------------

@pytest.mark.parametrize("depth", [2, 3])
def test_gd_equals_the_reduced_map(depth):
    """From the decoupled balanced start, GD on the full matrices is the scalar map
    c <- c + lr c^(D-1) (s - c^D) per mode. Both run in float32: each is within ~5e-5 s of
    the float64 map over 1e4 updates (measured), so 2e-4 s bounds their difference; the
    u-ODE's Euler map, O(lr^2) off per update, is ~1e-2 s away, so the test can tell."""
    lr, n = 0.005, {2: 2500, 3: 5000}[depth]   # both past the weakest mode's learning
    obs = run_gd(depth, lr, n)
    gd = obs["strength"]
    exact = np.asarray(theory.reduced_map(np.float32(S), 1e-3, lr, depth, n))
    euler = np.asarray(theory.euler_map(np.float32(S), 1e-3, lr, depth, n))
    assert gd[-1] == pytest.approx(S, rel=1e-3)          # every mode is learned
    err = np.max(np.abs(gd - exact) / S)
    assert err < 2e-4, err
    assert np.max(np.abs(gd - euler) / S) > 10 * err
    # decoupled throughout: the product stays on the teacher's modes (float32 noise)
    assert obs["off_mode"].max() < 1e-4
    assert obs["align_in"].min() > 0.9999


def test_reduced_map_at_records_is_the_map():
    steps = np.array([0, 1, 7, 100, 333])
    full = np.asarray(theory.reduced_map(np.float32(S), 1e-3, 0.01, 3, 333))
    np.testing.assert_array_equal(np.asarray(theory.reduced_map_at(np.float32(S), 1e-3, 0.01,
                                                                   3, steps)), full[steps])


def test_closed_form_is_the_limit_of_gd():
    """The continuous-time solutions are GD's lr -> 0 limit at fixed t / tau, with error
    O(lr): halving lr halves the error (ratio 2 +- 0.1; the O(lr^2) rest is 1e-3 of it at
    these lr, float32 rounding ~1e-5 s against errors >= 1e-3 s)."""
    T = 4.0
    for depth in (2, 3):
        errs = []
        for lr in (0.008, 0.004, 0.002, 0.001):
            n = int(round(T / lr))
            gd = np.asarray(theory.reduced_map(np.float32(S), 1e-2, lr, depth, n), float)
            flow = theory.strength_ode(lr * np.arange(n + 1), S, 1e-2, depth)
            errs.append(np.max(np.abs(gd - flow) / S))
        ratios = np.array(errs[:-1]) / np.array(errs[1:])
        np.testing.assert_allclose(ratios, 2.0, atol=0.1, err_msg=f"depth {depth}: {errs}")


def test_theory_times_are_consistent():
    a0 = 1e-3
    # the two-layer half time, by its formula tau/(2s) ln(s/a0 - 1)
    np.testing.assert_allclose(theory.half_time(S, a0, 2), np.log(S / a0 - 1) / (2 * S))
    # rise 10-90 % of two layers is ln 81 / (2s), whatever a0
    np.testing.assert_allclose(theory.rise_time(S, a0, 2), np.log(81) / (2 * S))
    for depth in (2, 3, 5):
        # the ODE reaches f s exactly at time_to(f) (quadrature vs integration, 1e-7)
        for f in (0.1, 0.5, 0.9):
            t = theory.time_to(f, S, a0, depth)
            u = np.array([theory.strength_ode(np.array([0.0, ti]), [si], a0, depth)[-1, 0]
                          for ti, si in zip(t, S)])
            np.testing.assert_allclose(u, f * S, rtol=1e-7)
    # the numerical paths (used for D > 2) reproduce the two-layer closed forms (1e-8:
    # far above their 1e-10 tolerances, far below any comparison made with them)
    t = np.linspace(0, 5, 11)
    np.testing.assert_allclose(theory.integrate_ode(t, S, a0, 2),
                               theory.strength_depth2(t[:, None], S, a0), rtol=1e-8)
    np.testing.assert_allclose(theory.time_to_numeric(0.7, S, a0, 2),
                               theory.time_to_depth2(0.7, S, a0), rtol=1e-8)
    np.testing.assert_allclose(theory.plateau_losses([1.0, 2.0]), [2.5, 0.5, 0.0])
    assert theory.learning_order([1.0, 3.0, 2.0]) == [1, 2, 0]


def test_deeper_is_later_and_sharper_in_theory_and_gd():
    """Same product strength a0 at the start: the half time grows and rise / half falls
    with depth, in the theory and in GD (measured from the records)."""
    from learndyn.linear.analysis import mode_times
    lr, a0, s = 0.01, 1e-2, np.array([2.0])
    half = [float(theory.half_time(s, a0, d)[0]) for d in (2, 3, 4)]
    ratio = [float((theory.rise_time(s, a0, d) / theory.half_time(s, a0, d))[0])
             for d in (2, 3, 4)]
    assert half[0] < half[1] < half[2] and ratio[0] > ratio[1] > ratio[2]
    meas = []
    for d in (2, 3, 4):
        a = np.asarray(theory.reduced_map(np.float32(s), a0, lr, d, 2000))
        meas.append(mode_times(np.arange(2001), a, s))
    mh = [m["t_half"][0] for m in meas]
    mr = [m["rise_over_half"][0] for m in meas]
    assert mh[0] < mh[1] < mh[2] and mr[0] > mr[1] > mr[2]
    # and in updates they are the theory's to within GD's O(lr s) lag (2 % here)
    np.testing.assert_allclose(mh, np.array(half) / lr, rtol=0.02)


def test_random_small_init_aligns_and_learns():
    """From a small random start the layers align with the teacher's modes while they are
    learned (Saxe et al.: the decoupled solution is reached from random initial weights)."""
    obs = run_gd(2, 0.01, 3000, init="random")
    assert obs["strength"][-1] == pytest.approx(S, rel=1e-3)
    assert obs["align_in"][-1].min() > 0.999 and obs["align_out"][-1].min() > 0.999


# -- recipes and the world --------------------------------------------------------------------

def test_recipes_load_at_both_scales():
    for name in ("saxe2014-modes", "saxe2014-depth"):
        for scale in ("smoke", "paper"):
            r = load(name, scale)
            assert r.study == "deep_linear"
    assert load("saxe2014-depth", "smoke").depth_list() == [2, 3, 4]
    assert len(load("saxe2014-modes", "paper").teacher.values()) == 5


@pytest.mark.parametrize("over, field", [
    ({"N2": 2}, "N2"),                                   # hidden narrower than 3 modes
    ({"N1": 2}, "N1"),
    ({"n_samples": 3}, "n_samples"),                     # fewer samples than inputs
    ({"init": {"a0": 5.0}}, "init.a0"),                  # start above a singular value
    ({"lr": 0.5}, "lr"),                                 # past GD's stability bound
    ({"depths": [2, 7]}, "depths"),
    ({"depths": [2, 2]}, "depths"),
    ({"depth": 1}, "depth"),
    ({"teacher": {"s": [1.0, -1.0]}}, "teacher.s"),
    ({"teacher": {"s": [1.0], "n_modes": 3}}, "teacher"),
    ({"theory": {"rise": [0.9, 0.1]}}, "theory.rise"),
    ({"hidden": 4}, "hidden"),                            # unknown field
    ({"lr": "0.01"}, "lr"),                               # strict: a string is not a number
])
def test_config_errors_are_one_line(over, field):
    base = {"name": "x", "study": "deep_linear", "teacher": {"s": [3.0, 2.0, 1.0]},
            "N1": 4, "N2": 4, "N3": 4}
    validate(base)  # the base is valid
    with pytest.raises(ConfigError) as exc:
        validate(_deep_merge(base, over))
    msg = str(exc.value)
    assert "\n" not in msg and field in msg.split(":")[1], msg


def test_phases_are_phases_that_train():
    rcp = load("saxe2014-depth", "smoke", epochs=60, seeds=3)
    plan = WORLD.phases(rcp)
    names = []
    for ph in plan:
        assert isinstance(ph, Phase)
        names.append(ph.name)
        res = train(ph)
        assert res.records.strength.dims == ("step", "run", "mode")
        assert list(res.records.seed.values) == [0, 1, 2]
        assert np.all(np.diff(res.records.loss.values, axis=0) <= 0)  # GD lowers the loss
    assert names == ["depth2", "depth3", "depth4"]
    assert [p.name for p in WORLD.phases(load("saxe2014-modes", "smoke"))] == ["train"]
    assert WORLD.study == "deep_linear" and WORLD.papers == ("saxe-2014",)


class _Source:
    scale = "smoke"

    def __init__(self, summaries):
        self.summaries = summaries

    def get(self, recipe):
        return SimpleNamespace(summary=self.summaries[recipe])


@pytest.fixture(scope="module")
def smoke_studies(tmp_path_factory):
    """Both recipes at smoke scale, trained, analysed and drawn (about 5 s on the CPU)."""
    from learndyn.core.store import RunStore
    from learndyn.core.study import run_study
    out = {}
    for name in ("saxe2014-modes", "saxe2014-depth"):
        rcp = load(name, "smoke")
        summary = run_study(WORLD, rcp, RunStore(tmp_path_factory.mktemp(name)))
        summary = json.loads(json.dumps(summary))   # JSON values only, as summary.json
        out[name] = (rcp, summary, summary["figures"])
    return out


def test_modes_study_measures_theory(smoke_studies):
    rcp, summ, figs = smoke_studies["saxe2014-modes"]
    ph = summ["phases"]["train"]
    per, th = ph["per_seed"], ph["theory"]
    assert per["status"] == ["ok"] * 4
    for halves, order in zip(per["t_half"], per["order"]):
        assert order == [0, 1, 2]                       # strongest first
        # GD lags the flow by ~lr s / 2 of its time (0.8 % at most here)
        np.testing.assert_allclose(halves, th["t_half"], rtol=0.01)
    for slope in per["slope"]:
        assert slope * 2 * rcp.lr == pytest.approx(1.0, abs=0.01)
    for err, err_map in zip(per["strength_error"], per["strength_error_map"]):
        assert max(err) < 0.03 and max(err_map) < 1e-3
    for mode_drop in per["mode_drop"]:
        assert mode_drop == [0, 1, 2]                   # one drop per mode, in order
    assert set(figs) == {"strengths", "loss", "theory-saxe.map", "theory-saxe.flow"}
    rows = dict(WORLD.table(summ))
    assert rows["phase"] == ["train"] and len(rows["t_half (updates)"][0].split(",")) == 3


def test_depth_study_and_claims(smoke_studies):
    summaries = {n: v[1] for n, v in smoke_studies.items()}
    cmp_ = summaries["saxe2014-depth"]["depth_comparison"]
    assert cmp_["later"] == [True] * 4 and cmp_["sharper"] == [True] * 4
    claims = WORLD.claims()
    assert [c.id for c in claims] == ["saxe.modes_follow_theory", "saxe.order_by_strength",
                                      "saxe.time_scales", "saxe.stages_match_modes",
                                      "saxe.depth_sharper", "saxe.theory_error"]
    src = _Source(summaries)
    for c in claims:
        chk = c.check(src)
        assert chk.verdict == "verified", (c.id, chk.measured)
        assert any(ch.isdigit() for ch in chk.measured)
    assert "depth" in smoke_studies["saxe2014-depth"][2]


def test_claims_refute_a_wrong_order(smoke_studies):
    """The order check reads the data: swap two modes' half times and it is refuted."""
    summ = json.loads(json.dumps(smoke_studies["saxe2014-modes"][1]))
    for halves in summ["phases"]["train"]["per_seed"]["t_half"]:
        halves[0], halves[2] = halves[2], halves[0]
    chk = next(c for c in WORLD.claims() if c.id == "saxe.order_by_strength").check(
        _Source({"saxe2014-modes": summ}))
    assert chk.verdict == "refuted"
