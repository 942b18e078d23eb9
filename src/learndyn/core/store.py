"""The run store: a run's folder on disk.

    RUN/
      recipe.toml        the resolved recipe (what was actually run)
      summary.json       headline scalars of the finished run
      figures/           PNG (and PDF) figures
      <phase>/           one folder per trained phase (e.g. closed/, open/):
        records.zarr     the recorded trajectory, an xarray Dataset (dims step, run, ...)
        checkpoint.npz   the batched training state after the last finished chunk
        meta.json        progress: last chunk, last step, complete flag, training seconds

Records are appended chunk by chunk and the checkpoint is written after them, both through a
temporary file and an atomic rename, so a killed process leaves a readable store that
resumes from its last checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import jax
import numpy as np
import xarray as xr

from learndyn.errors import LearndynError


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def to_jsonable(obj):
    """Convert numpy scalars/arrays (and nested containers of them) to plain JSON types."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return None if not np.isfinite(f) else f
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


class RunStore:
    """A folder holding one run (or one phase of a run)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def child(self, name: str) -> "RunStore":
        return RunStore(self.path / name)

    # -- metadata -----------------------------------------------------------------------
    @property
    def _meta_path(self) -> Path:
        return self.path / "meta.json"

    def meta(self) -> dict:
        return json.loads(self._meta_path.read_text()) if self._meta_path.exists() else {}

    def _write_meta(self, **kv) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        meta = self.meta()
        meta.update(kv)
        _atomic_write_text(self._meta_path, json.dumps(to_jsonable(meta), indent=1))

    def is_complete(self) -> bool:
        return bool(self.meta().get("complete", False))

    def mark_complete(self) -> None:
        self._write_meta(complete=True)

    # -- recipe and summary -------------------------------------------------------------
    def write_text(self, name: str, text: str) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        _atomic_write_text(self.path / name, text)

    def read_text(self, name: str) -> str | None:
        p = self.path / name
        return p.read_text() if p.exists() else None

    def write_summary(self, summary: dict) -> None:
        self.write_text("summary.json", json.dumps(to_jsonable(summary), indent=2))

    def read_summary(self) -> dict | None:
        txt = self.read_text("summary.json")
        return json.loads(txt) if txt is not None else None

    @property
    def figures(self) -> Path:
        p = self.path / "figures"
        p.mkdir(parents=True, exist_ok=True)
        return p

    # -- records ------------------------------------------------------------------------
    @property
    def records_path(self) -> Path:
        return self.path / "records.zarr"

    def append_records(self, ds: xr.Dataset) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self.records_path.exists():
                ds.to_zarr(self.records_path, append_dim="step", consolidated=False)
            else:
                ds.to_zarr(self.records_path, mode="w", consolidated=False)

    def load_records(self) -> xr.Dataset:
        """The recorded trajectory, loaded into memory (readable mid-run too)."""
        if not self.records_path.exists():
            return xr.Dataset()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return xr.open_zarr(self.records_path, consolidated=False).load()

    def truncate_records(self, n_steps: int) -> None:
        """Drop records past the first n_steps (written after the last checkpoint)."""
        ds = self.load_records()
        if "step" not in ds.dims or ds.sizes["step"] <= n_steps:
            return
        ds = ds.isel(step=slice(0, n_steps))
        tmp = self.path / "records.tmp.zarr"
        if tmp.exists():
            shutil.rmtree(tmp)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds.to_zarr(tmp, mode="w", consolidated=False)
        shutil.rmtree(self.records_path)
        os.replace(tmp, self.records_path)

    # -- checkpoints ----------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.path / "checkpoint.npz"

    def save_checkpoint(self, state: Any, *, chunk: int, step: int,
                        diverged_at: np.ndarray, train_s: float | None = None) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        leaves = jax.tree_util.tree_leaves(state)
        tmp = self.path / "checkpoint.tmp.npz"
        with open(tmp, "wb") as f:
            np.savez(f, *[np.asarray(x) for x in leaves], diverged_at=np.asarray(diverged_at))
        os.replace(tmp, self.checkpoint_path)
        extra = {} if train_s is None else {"train_s": float(train_s)}
        self._write_meta(chunk=chunk, step=step, complete=False, **extra)

    def set_train_seconds(self, seconds: float) -> None:
        """Record the training wall time of the runs so far (all invocations together)."""
        self._write_meta(train_s=float(seconds))

    def load_checkpoint(self, template: Any) -> dict | None:
        """The checkpointed state, shaped like `template`, or None if there is none."""
        meta = self.meta()
        if not self.checkpoint_path.exists() or "chunk" not in meta:
            return None
        leaves, treedef = jax.tree_util.tree_flatten(template)
        mismatch = LearndynError(f"--out: the checkpoint in {self.path} does not match this "
                                 "run's state (written by another version or recipe); use a "
                                 "fresh --out folder")
        with np.load(self.checkpoint_path) as z:
            if len(z.files) != len(leaves) + 1:
                raise mismatch
            arrays = [z[f"arr_{i}"] for i in range(len(leaves))]
            dat = z["diverged_at"]
        if any(a.shape != np.shape(t) for a, t in zip(arrays, leaves)):
            raise mismatch
        state = jax.tree_util.tree_unflatten(
            treedef, [jax.numpy.asarray(a, dtype=np.asarray(t).dtype) for a, t in zip(arrays, leaves)])
        return {"state": state, "chunk": meta["chunk"], "step": meta["step"], "diverged_at": dat}
