"""Helpers for the tests of the per-setting claims (gb.reference_vs_paper.*,
li2.reference_vs_paper.*): a fake run source keyed by preset or by one overridden field, and
a recipe's [presets.NAME] tables as flat dotted keys."""


class PresetRuns:
    """A paper-scale run source with one summary per preset ("reference", "paper_text") or,
    for a single-setting run (the reference with one field overridden), per that field."""

    scale = "paper"

    def __init__(self, by_key):
        self.by_key = by_key

    def get(self, name, overrides=None):
        over = dict(overrides or {})
        key = over.pop("preset", "reference")
        if over:
            (key,) = over
        return type("R", (), {"summary": self.by_key[key]})()


def flat(table: dict, prefix: str = "") -> dict:
    """A TOML table's nested keys as dotted paths: {"task": {"a": 1}} -> {"task.a": 1}."""
    out = {}
    for k, v in table.items():
        out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k: v})
    return out
