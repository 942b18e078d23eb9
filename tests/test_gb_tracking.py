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
    L = np.array([[10.0, 1.0], [5.0, 1.0], [1.0, 1.0], [0.2, 2.0], [0.1, 2.0], [0.1, 3.0]])
    # frequency 0 falls from 10 to 0.1: half-way in log is 1.0, reached at step 2; the other
    # rises: no drop
    assert probe_drops(steps, L) == [2, None]


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
