"""Finite groups and their representation theory (NumPy precomputation).

Build groups with :func:`cyclic`, :func:`product`, :func:`dihedral` (``D_n`` has order 2n),
:func:`dicyclic`, :func:`from_cayley_table` or :func:`parse_group` (``"Z4xZ7"``, ``"D5"``,
``"Dic3"``, ``"Q8"``, ...). ``group.irreps()`` gives the complex irreps; :func:`real_irreps`
groups them into irreps over R, and :func:`irrep_power` measures how much of a real function
on the group (e.g. a hidden node's weight vector) lies in each real irrep.
"""

from learndyn.groups.base import FiniteGroup, Irrep, RealIrrep
from learndyn.groups.constructors import MAX_ORDER, cyclic, dicyclic, dihedral, from_cayley_table, product
from learndyn.groups.irreps import real_irreps
from learndyn.groups.parse import parse_group
from learndyn.groups.power import fourier_basis, irrep_power, irrep_projectors, isotypic_basis
from learndyn.groups.realform import realify

__all__ = [
    "MAX_ORDER",
    "FiniteGroup",
    "Irrep",
    "RealIrrep",
    "cyclic",
    "dicyclic",
    "dihedral",
    "fourier_basis",
    "from_cayley_table",
    "irrep_power",
    "irrep_projectors",
    "isotypic_basis",
    "parse_group",
    "product",
    "real_irreps",
    "realify",
]
