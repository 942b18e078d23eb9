"""Ger & Barak Fig. 6 (gb2025-fig6, issue 25 step 1): motor tracking with per-frequency
probe episodes."""

import jax
import numpy as np
import pytest

from learndyn.closedloop.summary import probe_drops
from learndyn.closedloop.tasks import SinusoidTracking
from learndyn.recipes import load_recipe, run_recipe


def test_probes_are_one_sinusoid_on_its_own_axis():
    task = SinusoidTracking(horizon=300)
    ref = np.asarray(task.probes(jax.random.PRNGKey(0)))
    assert ref.shape == (4, 301, 2) and task.frequencies == (0.1, 0.3, 0.2, 0.4)
    t = np.arange(301) * task.dt
    for i, f in enumerate(task.frequencies):
        axis = 0 if i < 2 else 1
        assert np.all(ref[i, :, 1 - axis] == 0)
        # after the 1 s ramp: amplitude 2.31 at frequency f (the spectrum's peak)
        wave = ref[i, 10:, axis]
        # (sampled every 0.1 s the largest sample may miss the crest by up to a factor
        # cos(pi f dt): 0.992 at 0.4 Hz)
        assert 2.31 * np.cos(np.pi * f * task.dt) <= np.max(np.abs(wave)) <= 2.31 * (1 + 1e-6)
        spec = np.abs(np.fft.rfft(wave, n=len(wave) * 8))
        freqs = np.fft.rfftfreq(len(wave) * 8, task.dt)
        assert freqs[np.argmax(spec)] == pytest.approx(f, abs=0.01)
    assert np.allclose(ref[:, 0], 0)                      # the onset ramp starts at zero


def test_probe_drops():
    steps = np.arange(6)
    L = np.array([[10.0, 1.0, 1.0], [5.0, 1.0, 1.0], [1.0, 1.0, 0.9], [0.2, 2.0, 0.9],
                  [0.1, 2.0, 0.8], [0.1, 3.0, 0.7]])
    # frequency 0 falls from 10 to 0.1: half-way in log is 1.0, reached at step 2; the second
    # rises and the third falls by less than x2: no drop
    assert probe_drops(steps, L) == [2, None, None]


def test_smoke_run_records_the_probes(tmp_path):
    rcp = load_recipe("gb2025-fig6", "smoke")
    summary = run_recipe(rcp, tmp_path / "run", figures=False)
    assert summary["frequencies"] == [0.1, 0.3, 0.2, 0.4]
    for mode in ("closed", "open"):
        drops = summary[mode]["per_seed"]["probe_drop_step"]
        assert len(drops) == rcp.seeds and all(len(d) == 4 for d in drops)
    from learndyn.core.store import RunStore
    rec = RunStore(tmp_path / "run" / "closed").load_records()
    assert rec.probe_loss.dims == ("step", "run", "freq") and rec.probe_loss.shape[2] == 4
    assert np.all(np.isfinite(rec.probe_loss.values))


def test_tracking_claims_on_fabricated_summaries():
    from learndyn.core.claims import run_claims
    from learndyn.worlds import all_claims
    ids = ("gb.tracking.staircase_low_to_high", "gb.tracking.eigs_at_frequencies",
           "gb.tracking.competition", "gb.tracking.open_loop_worse")
    claims = [c for c in all_claims() if c.id in ids]
    assert len(claims) == 4
    two_pi = 2 * np.pi
    per_c = {"status": ["ok"] * 4, "diverged_at": [None] * 4,
             "probe_drop_step": [[200, 1800, 700, 4500]] * 4,    # 0.1, 0.3, 0.2, 0.4 Hz
             "probe_rise": [[1.0, 1.3, 1.05, 1.2]] * 4,
             "w_rates_final": [[two_pi * 0.1, -two_pi * 0.1, two_pi * 0.21, two_pi * 0.29,
                                two_pi * 0.41, 0.0]] * 4}
    per_o = {"status": ["ok"] * 4, "diverged_at": [None] * 4, "above_closed_fraction": [0.9] * 4,
             "peak_deployed_loss": [3.0] * 4, "initial_deployed_loss": [1.0] * 4}
    summ = {"frequencies": [0.1, 0.3, 0.2, 0.4], "closed": {"per_seed": per_c},
            "open": {"per_seed": per_o}}

    class Src:
        scale = "paper"

        def get(self, recipe, overrides=None):
            assert recipe == "gb2025-fig6"
            from types import SimpleNamespace
            return SimpleNamespace(summary=summ)
    rows = {r.id: r for r in run_claims(Src(), claims)}
    for cid in ids:
        assert rows[cid].verdict == "verified", rows[cid]
    # out of order (0.4 Hz before 0.3 Hz) refutes the staircase; no rise refutes competition
    per_c["probe_drop_step"] = [[200, 4500, 700, 1800]] * 4
    per_c["probe_rise"] = [[1.0, 1.05, 1.02, 1.0]] * 4
    per_c["w_rates_final"] = [[0.0, 5.0]] * 4
    per_o["above_closed_fraction"] = [0.2] * 4
    rows = {r.id: r for r in run_claims(Src(), claims)}
    for cid in ids:
        assert rows[cid].verdict == "refuted", rows[cid]
