"""Plants and tasks are recipe options (issue 10): one file per plant, one registry, no
fall-through default, and a `type` override that replaces the table."""

import numpy as np
import pytest

from learndyn.closedloop import plants
from learndyn.closedloop.config import ClosedLoopRecipe, Plant
from learndyn.closedloop.plants.base import Plant as PlantBase
from learndyn.closedloop.tasks import OPTIONS as TASKS
from learndyn.core.options import tags, type_tag
from learndyn.errors import ConfigError
from learndyn.recipes import load_recipe

LINEAR = {"A": [[1.0, 0.1], [0.0, 1.0]], "B": [[0.0], [0.1]], "C": [[1.0, 0.0]]}


def test_registry_is_one_option_per_plant_file():
    assert len(plants.OPTIONS) == len(plants.FILES)
    for option, file in zip(plants.OPTIONS, plants.FILES):
        assert option.__module__ == f"learndyn.closedloop.plants.{file}"
    assert tags(Plant) == [type_tag(o) for o in plants.OPTIONS]


@pytest.mark.parametrize("option", plants.OPTIONS, ids=type_tag)
def test_every_plant_option_builds_its_own_plant(option):
    """Each `type` builds the plant its file defines (on b2eb2d6 a type that build.py did not
    branch on fell through to the damped pendulum)."""
    cfg = option(**(LINEAR if type_tag(option) == "linear" else {}))
    plant = cfg.build()
    assert isinstance(plant, PlantBase)
    assert plant.__class__.__module__.startswith("learndyn.closedloop.plants")
    x = np.zeros(plant.nx, np.float32)
    assert plant.step(x, np.zeros(plant.nu, np.float32)).shape == (plant.nx,)
    assert plant.observe(x).shape == (plant.ny,)
    if type_tag(option) != "pendulum":
        assert "pendulum" not in type(plant).__name__.lower()


def test_cart_pole_linearisation_has_the_unstable_pole():
    """eig(I + dt A_c) = 1 + dt eig(A_c), and A_c's unstable eigenvalue is
    sqrt((M + m) g / (M l)): exact in float64 up to rounding (1e-12)."""
    dt, M, m, l, g = 0.02, 1.0, 0.1, 0.5, 9.81
    plant = plants.cart_pole(dt, M, m, l, g)
    top = np.max(np.linalg.eigvals(plant.A).real)
    np.testing.assert_allclose(top, 1 + dt * np.sqrt((M + m) * g / (M * l)), rtol=1e-12)
    assert (plant.nx, plant.nu, plant.ny) == (4, 1, 2)


def test_task_options_build_their_tasks():
    plant = plants.PointMass2D()
    for option in TASKS:
        task = option().build(plant)
        assert task.horizon == option().horizon


def test_type_override_replaces_the_table_and_is_recorded():
    r = load_recipe("gb2025-fig1", "smoke", {"plant.type": "cart_pole", "plant.dt": 0.05})
    assert r.plant.type == "cart_pole" and r.plant.dt == 0.05
    assert r.resolved.overrides == {"plant.type": "cart_pole", "plant.dt": 0.05}
    # the order of the --set options does not matter: a type change is applied first
    r2 = load_recipe("gb2025-fig1", "smoke", {"plant.dt": 0.05, "plant.type": "cart_pole"})
    assert r2.plant == r.plant
    # the same type keeps the table's other fields
    r3 = load_recipe("gb2025-fig1", "smoke", {"plant.type": "k_integrator"})
    assert r3.plant.k == 2


def refused(override) -> str:
    with pytest.raises(ConfigError) as err:
        load_recipe("gb2025-fig1", "smoke", override)
    msg = str(err.value)
    assert "\n" not in msg, msg
    return msg


def test_a_wrong_plant_type_lists_every_plant():
    msg = refused({"plant.type": "segway"})
    assert "plant.type" in msg
    for t in tags(Plant):
        assert t in msg


def test_a_field_of_another_kind_is_refused_with_the_allowed_fields():
    msg = refused({"plant.clamp": 3.0})
    assert "plant.clamp" in msg and "allowed: dt, k, type" in msg


def test_recipe_default_plant_and_task():
    r = ClosedLoopRecipe(name="x", paper="p")
    assert r.plant.type == "k_integrator" and r.task.type == "regulation"
