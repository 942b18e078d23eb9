"""The run store: a run's folder on disk, crash-safe.

    RUN/
      recipe.toml        the resolved recipe (what was actually run)
      summary.json       headline scalars of the finished run
      figures/           PNG (and PDF) figures
      .lock              held (fcntl.flock) by the process writing RUN; holder: pid, host, time
      <phase>/           one folder per trained phase (e.g. closed/, open/):
        manifest.json    THE COMMIT POINT: what of this phase exists (see below)
        records.zarr/    one immutable Zarr store per committed chunk: chunk-0000.zarr, ...
        checkpoint-NNNN.npz   the batched training state after committed chunk NNNN
        <name>.zarr/     derived datasets written beside the records (a theory's prediction:
                         theory-<name>.zarr), each one immutable Zarr store (a replaced
                         one: <name>.vN.zarr)
        .lock            held by the process training this phase

Design. A chunk is committed in four steps: (1) its records are written to
`records.zarr/.tmp-chunk-NNNN.zarr`, every file fsynced, and the folder renamed to
`chunk-NNNN.zarr`; (2) its checkpoint is written to `.tmp-checkpoint-NNNN.npz`, fsynced and
renamed to `checkpoint-NNNN.npz`; (3) `manifest.json` is rewritten (temporary file, fsync,
`os.replace`, fsync of the folder). The manifest lists every committed chunk (its steps and
each of its files with its size), the variables (dims, shape past `step`, dtype), the
checkpoint file and its size, the last chunk index and step, train_s and the complete flag.
Step (3) is atomic, so a chunk's records and its checkpoint become visible together or not at
all; (4) the previous checkpoint is deleted. Readers read only what the manifest commits.
A writer (`Trainer.run`, under the phase lock) first deletes every uncommitted leftover
(temporary files, chunk stores, checkpoints and datasets the manifest does not name), then
resumes after the last committed chunk, so no step is ever recorded twice.

A derived dataset (`write_dataset`, under the phase lock: `with store.writing(): ...`) is
committed the same way: written to `.tmp-<name>.zarr`, every file fsynced, renamed to
`<name>.zarr`, then named (its files with their sizes and its variables) in the manifest's
`datasets` table by an atomic manifest replacement. `check()` checks it like a chunk, and
`load_dataset` reads only a committed one.

What a run survives: SIGKILL (or a crash, or power loss, up to what fsync promises) at any
moment, including in the middle of a record, checkpoint, manifest or summary write: the rerun
resumes from the last committed chunk and ends with records and summary equal to those of an
uninterrupted run. A kill leaves no stale lock (the OS releases a dead holder's flock).

What it refuses, with one line (`StoreError`) naming the path and the fault, never reading
NaN or dropping a variable silently: a committed file that is missing or has another size, a
chunk whose variables, dims, shapes, dtypes or steps disagree with the manifest, a manifest,
summary.json or recipe.toml that is not valid, a folder in the layout of an older learndyn,
and a second process writing a run folder (or phase) another process holds.

Testing hook: with LEARNDYN_TEST_KILL=POINT[@N] the process kills itself (SIGKILL) the N-th
time (default 1) it reaches the injected point POINT, and LEARNDYN_TEST_SLOW=SECONDS sleeps
that long at every point (to widen the windows that random kills hit). The points, in write
order: records-tmp-open, records-tmp-written, records-renamed, checkpoint-tmp-written,
checkpoint-renamed, manifest-tmp-written, manifest-replaced, text-tmp-written (any
summary/recipe write); a dataset write passes dataset-tmp-open, dataset-tmp-written,
dataset-renamed, then the manifest points. Not for use outside tests.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import socket
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jax
import numpy as np
import xarray as xr

from learndyn.errors import LearndynError

MANIFEST_FORMAT = 1
_DATASET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_test_hits: dict[str, int] = {}


class StoreError(LearndynError):
    """A run folder that fails its own consistency check, or is held by another writer."""


def _test_point(name: str) -> None:
    """The testing hook (see the module docstring): sleep and/or SIGKILL at a named point."""
    slow = os.environ.get("LEARNDYN_TEST_SLOW")
    if slow:
        time.sleep(float(slow))
    spec = os.environ.get("LEARNDYN_TEST_KILL")
    if not spec:
        return
    point, _, nth = spec.partition("@")
    if point != name:
        return
    _test_hits[name] = _test_hits.get(name, 0) + 1
    if _test_hits[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write_bytes(path: Path, data: bytes, point: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    _test_point(point)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _atomic_write_text(path: Path, text: str) -> None:
    _atomic_write_bytes(path, text.encode(), "text-tmp-written")


def _files_with_sizes(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_size
            for p in sorted(root.rglob("*")) if p.is_file()}


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


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


def _variables(ds: xr.Dataset, full: bool = False) -> dict:
    """name -> dims, shape past `step` (sizes of the other dims; every dim's size when
    `full`), dtype, for every variable."""
    return {name: {"dims": list(v.dims),
                   "shape": [None if d == "step" and not full else int(n)
                             for d, n in zip(v.dims, v.shape)],
                   "dtype": str(v.dtype)}
            for name, v in ds.variables.items()}


def _write_zarr_atomically(ds: xr.Dataset, tmp: Path, final: Path, point: str) -> dict[str, int]:
    """Write `ds` as a Zarr store at `tmp`, fsync every file, and rename it to `final` (an
    uncommitted `final` left by a killed writer is replaced). Returns its files with their
    sizes. `point` prefixes the testing hook's points (POINT-tmp-open, -tmp-written,
    -renamed)."""
    _remove(tmp)
    _test_point(f"{point}-tmp-open")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.to_zarr(tmp, mode="w", consolidated=False)
    files = _files_with_sizes(tmp)
    for rel in files:
        with open(tmp / rel, "rb") as f:
            os.fsync(f.fileno())
    _test_point(f"{point}-tmp-written")
    _remove(final)   # an uncommitted leftover of a killed writer
    os.rename(tmp, final)
    _fsync_dir(final.parent)
    _test_point(f"{point}-renamed")
    return files


def _open_zarr(where: Path, what: str) -> xr.Dataset:
    """A committed Zarr store loaded into memory; unreadable: one StoreError line."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return xr.open_zarr(where, consolidated=False).load()
    except Exception as err:  # noqa: BLE001  (any unreadable store: one line)
        raise StoreError(f"{where}: unreadable Zarr store "
                         f"({type(err).__name__}: {' '.join(str(err).split())[:200]});"
                         f" {what}") from None


class RunStore:
    """A folder holding one run (or one phase of a run)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._staged: dict | None = None

    def child(self, name: str) -> "RunStore":
        return RunStore(self.path / name)

    # -- locking ------------------------------------------------------------------------
    @contextmanager
    def lock(self, what: str = "--out"):
        """Hold this folder's write lock (an fcntl.flock on `.lock`, released by the OS when
        the holder exits or is killed). A second writer gets a StoreError naming the holder."""
        self.path.mkdir(parents=True, exist_ok=True)
        lock_path = self.path / ".lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 4096, 0).decode(errors="replace").strip()
                raise StoreError(f"{what}: {self.path} is being written by another process "
                                 f"({holder or 'holder not yet named'}); wait for it to finish "
                                 "or choose another folder") from None
            info = (f"pid {os.getpid()} on host {socket.gethostname()}, since "
                    f"{time.strftime('%Y-%m-%d %H:%M:%S %z')}")
            os.ftruncate(fd, 0)
            os.pwrite(fd, info.encode(), 0)
            try:
                yield self
            finally:
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # -- the manifest (the commit point) ------------------------------------------------
    @property
    def _manifest_path(self) -> Path:
        return self.path / "manifest.json"

    def _manifest(self) -> dict:
        """The committed manifest ({} when nothing is committed); StoreError when invalid."""
        p = self._manifest_path
        if not p.exists():
            old = [n for n in ("meta.json", "checkpoint.npz", "records.zarr/zarr.json",
                               "records.zarr/.zgroup") if (self.path / n).exists()]
            if old:
                raise StoreError(f"{self.path}: written by an older learndyn ({old[0]} without "
                                 "manifest.json); run again into a fresh --out folder")
            return {}
        try:
            m = json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise StoreError(f"{p}: not valid JSON ({err}); the phase folder is damaged, "
                             "delete it to recompute it") from None
        keys = {"format", "chunks", "variables", "checkpoint", "chunk", "step", "complete"}
        if not isinstance(m, dict) or not keys <= set(m) or m["format"] != MANIFEST_FORMAT:
            raise StoreError(f"{p}: not a learndyn manifest (format {MANIFEST_FORMAT}); the "
                             "phase folder is damaged, delete it to recompute it")
        return m

    def _write_manifest(self, m: dict) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        _atomic_write_bytes(self._manifest_path, json.dumps(to_jsonable(m), indent=1).encode(),
                            "manifest-tmp-written")
        _test_point("manifest-replaced")

    def _empty_manifest(self) -> dict:
        return {"format": MANIFEST_FORMAT, "chunks": [], "variables": {}, "checkpoint": None,
                "chunk": None, "step": None, "complete": False}

    def meta(self) -> dict:
        """Progress of the committed state: chunk, step, complete, train_s (empty if none)."""
        m = self._manifest()
        return {k: m[k] for k in ("chunk", "step", "complete", "train_s") if k in m} if m else {}

    def _update_manifest(self, **kv) -> None:
        m = self._manifest() or self._empty_manifest()
        m.update(kv)
        self._write_manifest(m)

    def is_complete(self) -> bool:
        return bool(self.meta().get("complete", False))

    def mark_complete(self) -> None:
        self._update_manifest(complete=True)

    def set_train_seconds(self, seconds: float) -> None:
        """Record the training wall time of the runs so far (all invocations together)."""
        self._update_manifest(train_s=float(seconds))

    # -- consistency ----------------------------------------------------------------------
    def check(self) -> dict:
        """Check this phase against its manifest, cheaply (file existence and size, shapes
        from the Zarr metadata when records are opened); returns the manifest. Raises
        StoreError naming the path and what is wrong."""
        m = self._manifest()
        for c in m.get("chunks", []):
            root = self.records_path / c["name"]
            for rel, size in c["files"].items():
                f = root / rel
                if not f.is_file():
                    raise StoreError(f"{f}: missing (committed in {self._manifest_path}); the "
                                     "records are damaged, delete the phase folder to recompute it")
                if f.stat().st_size != size:
                    raise StoreError(f"{f}: {f.stat().st_size} bytes where the manifest "
                                     f"committed {size}; the records are damaged")
        ck = m.get("checkpoint")
        if ck:
            f = self.path / ck["file"]
            if not f.is_file() or f.stat().st_size != ck["size"]:
                raise StoreError(f"{f}: missing or of another size than committed in "
                                 f"{self._manifest_path}; the checkpoint is damaged")
        datasets = m.get("datasets", {})
        if not isinstance(datasets, dict):
            raise StoreError(f"{self._manifest_path}: its datasets table is not a JSON "
                             "object; the phase folder is damaged, delete it to recompute it")
        for name, d in datasets.items():
            if not isinstance(d, dict) or not {"dir", "files", "variables"} <= set(d):
                raise StoreError(f"{self._manifest_path}: its entry for the dataset {name!r} "
                                 "is not valid; the phase folder is damaged, delete it to "
                                 "recompute it")
            root = self.path / d["dir"]
            for rel, size in d["files"].items():
                f = root / rel
                if not f.is_file() or f.stat().st_size != size:
                    got = "missing" if not f.is_file() else f"{f.stat().st_size} bytes"
                    raise StoreError(f"{f}: {got} where {self._manifest_path} committed "
                                     f"{size} bytes; the dataset {name!r} is damaged, delete "
                                     "the phase folder to recompute it")
        return m

    def _check_chunk(self, ds: xr.Dataset, c: dict, variables: dict, where: Path) -> None:
        got = _variables(ds)
        if set(got) != set(variables):
            missing = sorted(set(variables) - set(got)) or sorted(set(got) - set(variables))
            raise StoreError(f"{where}: variables {missing} differ from the manifest's; the "
                             "records are damaged")
        for name, spec in variables.items():
            g = got[name]
            if g != spec:
                raise StoreError(f"{where}: variable {name!r} has dims {g['dims']}, shape "
                                 f"{g['shape']}, dtype {g['dtype']} where the manifest has "
                                 f"{spec['dims']}, {spec['shape']}, {spec['dtype']}; the "
                                 "records are damaged")
        n = len(c["steps"])
        if ds.sizes.get("step") != n or list(ds["step"].values) != list(c["steps"]):
            raise StoreError(f"{where}: steps differ from the manifest's ({n} committed); the "
                             "records are damaged")

    # -- recipe and summary -------------------------------------------------------------
    def write_text(self, name: str, text: str) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        _atomic_write_text(self.path / name, text)

    def read_text(self, name: str) -> str | None:
        p = self.path / name
        if not p.exists():
            return None
        try:
            return p.read_text()
        except UnicodeDecodeError:
            raise StoreError(f"{p}: not UTF-8 text; the run folder is damaged") from None

    def write_summary(self, summary: dict) -> None:
        self.write_text("summary.json", json.dumps(to_jsonable(summary), indent=2))

    def read_summary(self) -> dict | None:
        txt = self.read_text("summary.json")
        if txt is None:
            return None
        try:
            s = json.loads(txt)
        except json.JSONDecodeError as err:
            raise StoreError(f"{self.path / 'summary.json'}: not valid JSON ({err}); delete it "
                             "and run again to rewrite it") from None
        if not isinstance(s, dict):
            raise StoreError(f"{self.path / 'summary.json'}: not a JSON object; delete it and "
                             "run again to rewrite it")
        return s

    def phases(self) -> list["RunStore"]:
        """The phase folders of a run folder (those holding a manifest or older records)."""
        if not self.path.is_dir():
            return []
        return [RunStore(p) for p in sorted(self.path.iterdir()) if p.is_dir() and any(
            (p / n).exists() for n in ("manifest.json", "records.zarr", "meta.json"))]

    def check_run(self) -> None:
        """Check every phase folder of this run folder (StoreError on the first fault)."""
        for ph in self.phases():
            ph.check()

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
        """Stage the next chunk's records: written (temporary name, fsync, rename) as an
        immutable Zarr store, visible only once the next `save_checkpoint` commits it."""
        m = self._manifest()
        idx = len(m.get("chunks", []))
        variables = _variables(ds)
        if m.get("variables") and m["variables"] != variables:
            raise ValueError("append_records: the chunk's variables differ from the committed "
                             "ones")
        if self._staged is not None:
            raise ValueError("append_records: a chunk is already staged (save_checkpoint first)")
        self.records_path.mkdir(parents=True, exist_ok=True)
        name = f"chunk-{idx:04d}.zarr"
        tmp, final = self.records_path / f".tmp-{name}", self.records_path / name
        files = _write_zarr_atomically(ds, tmp, final, "records")
        self._staged = {"name": name, "index": idx, "steps": [int(s) for s in ds["step"].values],
                        "files": files, "variables": variables}

    def load_records(self) -> xr.Dataset:
        """The committed trajectory, loaded into memory (readable mid-run too): the committed
        chunks concatenated along `step`, each checked against the manifest."""
        m = self.check()
        if not m.get("chunks"):
            return xr.Dataset()
        parts = []
        for c in m["chunks"]:
            where = self.records_path / c["name"]
            ds = _open_zarr(where, "the records are damaged")
            self._check_chunk(ds, c, m["variables"], where)
            parts.append(ds)
        if len(parts) == 1:
            return parts[0]
        return xr.concat(parts, dim="step", data_vars="minimal", coords="minimal",
                         compat="override", join="exact", combine_attrs="override")

    # -- derived datasets (theory predictions) -----------------------------------------
    def datasets(self) -> list[str]:
        """The names of the committed datasets."""
        return sorted(self._manifest().get("datasets", {}))

    def write_dataset(self, name: str, ds: xr.Dataset) -> None:
        """Write `ds` beside the records as `<name>.zarr` and commit it (see the module
        docstring): a dataset of that name committed before is replaced. Call it under the
        phase lock (`with store.writing(): store.write_dataset(...)`)."""
        if not _DATASET_NAME.fullmatch(name) or name == "records":
            raise ValueError(f"write_dataset: {name!r} is not a dataset name (letters, digits, "
                             "'_', '.', '-'; not 'records')")
        self.path.mkdir(parents=True, exist_ok=True)
        m = self._manifest() or self._empty_manifest()
        old = m.get("datasets", {}).get(name)
        # a replacement goes to a new folder, so the committed one stays intact until the
        # manifest names the new one
        version = 0 if old is None else int(old.get("version", 0)) + 1
        folder = f"{name}.zarr" if version == 0 else f"{name}.v{version}.zarr"
        files = _write_zarr_atomically(ds, self.path / f".tmp-{folder}", self.path / folder,
                                       "dataset")
        m = self._manifest() or self._empty_manifest()
        m["datasets"] = {**m.get("datasets", {}), name: {
            "dir": folder, "version": version, "files": files,
            "variables": _variables(ds, full=True)}}
        self._write_manifest(m)
        if old and old["dir"] != folder:
            _remove(self.path / old["dir"])

    def load_dataset(self, name: str) -> xr.Dataset | None:
        """The committed dataset `name`, loaded into memory, or None if none is committed;
        checked against the manifest (files, variables, dims, shapes, dtypes)."""
        m = self.check()
        d = m.get("datasets", {}).get(name)
        if d is None:
            return None
        where = self.path / d["dir"]
        ds = _open_zarr(where, f"the dataset {name!r} is damaged, delete the phase folder to "
                        "recompute it")
        got = _variables(ds, full=True)
        if got != d["variables"]:
            diff = sorted(k for k in set(got) | set(d["variables"])
                          if got.get(k) != d["variables"].get(k))
            raise StoreError(f"{where}: variables {diff} differ from the manifest's; the "
                             f"dataset {name!r} is damaged, delete the phase folder to "
                             "recompute it")
        return ds

    # -- checkpoints ----------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path | None:
        """The committed checkpoint file (None when nothing is committed)."""
        ck = self._manifest().get("checkpoint")
        return self.path / ck["file"] if ck else None

    def save_checkpoint(self, state: Any, *, chunk: int, step: int,
                        diverged_at: np.ndarray, train_s: float | None = None) -> None:
        """Write the checkpoint after chunk `chunk` and commit it, together with the staged
        records (if any), by replacing the manifest."""
        self.path.mkdir(parents=True, exist_ok=True)
        m = self._manifest() or self._empty_manifest()
        staged, self._staged = self._staged, None
        if staged is not None and staged["index"] != chunk:
            raise ValueError(f"save_checkpoint: chunk {chunk} but the staged records are "
                             f"chunk {staged['index']}")
        leaves = jax.tree_util.tree_leaves(state)
        name = f"checkpoint-{chunk:04d}.npz"
        tmp, final = self.path / f".tmp-{name}", self.path / name
        with open(tmp, "wb") as f:
            np.savez(f, *[np.asarray(x) for x in leaves], diverged_at=np.asarray(diverged_at))
            f.flush()
            os.fsync(f.fileno())
        _test_point("checkpoint-tmp-written")
        os.replace(tmp, final)
        _test_point("checkpoint-renamed")
        old = m.get("checkpoint")
        if staged is not None:
            m["chunks"] = m["chunks"] + [{k: staged[k] for k in ("name", "steps", "files")}]
            m["variables"] = staged["variables"]
        m.update(checkpoint={"file": name, "size": final.stat().st_size}, chunk=chunk,
                 step=step, complete=False)
        if train_s is not None:
            m["train_s"] = float(train_s)
        self._write_manifest(m)
        if old and old["file"] != name:
            _remove(self.path / old["file"])

    def load_checkpoint(self, template: Any) -> dict | None:
        """The committed state, shaped like `template`, or None if there is none."""
        m = self.check()
        if not m.get("checkpoint"):
            return None
        path = self.path / m["checkpoint"]["file"]
        leaves, treedef = jax.tree_util.tree_flatten(template)
        mismatch = LearndynError(f"--out: the checkpoint in {self.path} does not match this "
                                 "run's state (written by another version or recipe); use a "
                                 "fresh --out folder")
        try:
            with np.load(path) as z:
                if len(z.files) != len(leaves) + 1:
                    raise mismatch
                arrays = [z[f"arr_{i}"] for i in range(len(leaves))]
                dat = z["diverged_at"]
        except LearndynError:
            raise
        except Exception as err:  # noqa: BLE001  (a damaged npz: one line)
            raise StoreError(f"{path}: unreadable checkpoint ({type(err).__name__}); the phase "
                             "folder is damaged, delete it to recompute it") from None
        if any(a.shape != np.shape(t) for a, t in zip(arrays, leaves)):
            raise mismatch
        state = jax.tree_util.tree_unflatten(
            treedef, [jax.numpy.asarray(a, dtype=np.asarray(t).dtype) for a, t in zip(arrays, leaves)])
        return {"state": state, "chunk": m["chunk"], "step": m["step"], "diverged_at": dat}

    # -- writing ------------------------------------------------------------------------
    @contextmanager
    def writing(self):
        """Hold this phase's lock, check what is committed and delete every uncommitted
        leftover of a killed writer (temporary files, chunk stores and checkpoints that the
        manifest does not name), so that a resume starts from exactly the committed state."""
        with self.lock(what="phase"):
            m = self.check()
            keep_chunks = {c["name"] for c in m.get("chunks", [])}
            keep_ck = m["checkpoint"]["file"] if m.get("checkpoint") else None
            keep_ds = {d["dir"] for d in m.get("datasets", {}).values()}
            if self.records_path.is_dir():
                for p in self.records_path.iterdir():
                    if p.name not in keep_chunks:
                        _remove(p)
            for p in self.path.iterdir():
                if p.name.endswith(".tmp") or p.name.startswith(".tmp-") or (
                        p.name.startswith("checkpoint-") and p.name != keep_ck) or (
                        p.name.endswith(".zarr") and p.name != "records.zarr"
                        and p.name not in keep_ds):
                    _remove(p)
            self._staged = None
            yield self
