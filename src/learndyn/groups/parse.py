"""Parse group specifications such as ``"Z71"``, ``"Z4xZ7"``, ``"D5"``, ``"Dic3"``, ``"Q8"``."""

from __future__ import annotations

import re

from learndyn.errors import ConfigError
from learndyn.groups.base import FiniteGroup
from learndyn.groups.constructors import cyclic, dicyclic, dihedral, product

ALLOWED = "allowed forms: Z<M>, D<n>, Dic<n>, Q8, products joined by x"

_FACTOR = re.compile(r"^(?:(Z)(\d+)|(Dic)(\d+)|(D)(\d+)|(Q)8)$")


def _factor(token: str, spec: str) -> FiniteGroup:
    match = _FACTOR.match(token)
    if match is None:
        raise ConfigError("group", f"cannot parse {token!r} in {spec!r}; {ALLOWED}")
    zs, zn, dics, dicn, ds, dn, q = match.groups()
    try:
        if zs:
            return cyclic(int(zn))
        if dics:
            return dicyclic(int(dicn))
        if ds:
            return dihedral(int(dn))
        assert q
        q8 = dicyclic(2)
        return FiniteGroup("Q8", q8.table, q8.elements)
    except ConfigError as err:
        raise ConfigError("group", f"bad factor {token!r} in {spec!r} ({err}); {ALLOWED}") from None


def parse_group(spec: str) -> FiniteGroup:
    """Build a group from a specification string.

    Forms (case-sensitive, spaces ignored):
        ``Z<M>``: cyclic group of order M >= 1;
        ``D<n>``: dihedral group of ORDER 2n (symmetries of the n-gon), so ``D5`` has 10 elements;
        ``Dic<n>``: dicyclic group of order 4n (``Dic2`` is the quaternion group);
        ``Q8``: the quaternion group (= ``Dic2``, named ``"Q8"``);
        products joined by ``x``, e.g. ``"Z4xZ7"``, ``"Z2xZ2xZ9"``, ``"D3xZ2"`` (row-major
        element index, see :func:`learndyn.groups.product`).

    Raises:
        ConfigError("group", ...): the spec is not of an allowed form.
    """
    if not isinstance(spec, str):
        raise ConfigError("group", f"expected a string, got {type(spec).__name__}; {ALLOWED}")
    compact = re.sub(r"\s+", "", spec)
    tokens = compact.split("x")
    if not compact or any(not tok for tok in tokens):
        raise ConfigError("group", f"cannot parse {spec!r}; {ALLOWED}")
    groups = [_factor(tok, spec) for tok in tokens]
    return product(*groups)
