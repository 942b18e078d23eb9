"""Finite groups and their representation theory (NumPy precomputation).

Build groups with :func:`cyclic`, :func:`product`, :func:`dihedral` (``D_n`` has order 2n),
:func:`dicyclic`, :func:`from_cayley_table` or :func:`parse_group` (``"Z4xZ7"``, ``"D5"``,
``"Dic3"``, ``"Q8"``, ...). :func:`complex_irreps` gives a group's complex irreps;
:func:`real_irreps` groups them into irreps over R, and :func:`irrep_power` measures how much
of a real function on the group (e.g. a hidden node's weight vector) lies in each real irrep.

Modules, each importing only those before it: ``base`` (the group and irrep data types),
``realform``, ``constructors``, ``parse``, ``irreps``, ``power``. The names below are imported
from their module on first use, so ``import learndyn.groups.base`` loads base alone.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "FiniteGroup": "base", "Irrep": "base", "RealIrrep": "base",
    "MAX_ORDER": "constructors", "cyclic": "constructors", "dicyclic": "constructors",
    "dihedral": "constructors", "from_cayley_table": "constructors", "product": "constructors",
    "complex_irreps": "irreps", "real_irreps": "irreps",
    "parse_group": "parse",
    "fourier_basis": "power", "irrep_power": "power", "irrep_projectors": "power",
    "isotypic_basis": "power",
    "realify": "realform",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value   # later look-ups find it without this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
