"""Read the authors' saved Fig. 1-2 run (Ger & Barak 2025) once and save its numbers as JSON.

    python scripts/import_authors_run.py /path/to/closed_loop_rnn_learning_dynamics

The repository (github: yoavger/closed_loop_rnn_learning_dynamics) keeps its results as
pickles in data/. A pickle can run code when loaded, so this reads them with an unpickler
that allows nothing but NumPy's array reconstruction (any other global is refused), takes
the numbers learndyn compares with, and writes them with their provenance (repository,
commit, file) to src/learndyn/closedloop/data/gb2025_authors_run.json. learndyn never reads
a pickle at run time. Files read (their notebook code/figures.ipynb draws Figs. 1c and 2a
from them):
  data/non_linear_closed.pkl      (train loss per epoch [1001], test loss per checkpoint [1000])
  data/non_linear_open.pkl        (the same for the white-noise open-loop student)
  data/non_linear_all_k_eff.pkl   (fitted gains (k1, k2) per checkpoint, [closed, open])
"""

from __future__ import annotations

import importlib
import io
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "src/learndyn/closedloop/data/gb2025_authors_run.json"
REPOSITORY = "github.com/yoavger/closed_loop_rnn_learning_dynamics"
FILES = {"closed": "data/non_linear_closed.pkl", "open": "data/non_linear_open.pkl",
         "gains": "data/non_linear_all_k_eff.pkl"}
_ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"), ("numpy", "dtype")}


class ArraysOnly(pickle.Unpickler):
    """Unpickles lists, tuples, numbers and NumPy arrays; refuses every other global."""

    def find_class(self, module, name):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refused: {module}.{name} (only NumPy arrays allowed)")
        try:
            return getattr(importlib.import_module(module), name)
        except ImportError:     # numpy 2 moved numpy.core to numpy._core
            return getattr(importlib.import_module(module.replace("numpy.core", "numpy._core")),
                           name)


def read(repo: Path, commit: str, path: str):
    blob = subprocess.run(["git", "-C", str(repo), "show", f"{commit}:{path}"],
                          capture_output=True, check=True).stdout
    return ArraysOnly(io.BytesIO(blob)).load()


def main(repo: Path) -> None:
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                            text=True, check=True).stdout.strip()
    closed_train, closed_test = read(repo, commit, FILES["closed"])
    open_train, open_test = read(repo, commit, FILES["open"])
    gains = np.asarray(read(repo, commit, FILES["gains"]), float)       # (2, 1000, 2)
    # float32 values (as they were computed), written with the 7 digits float32 holds
    f32 = lambda a: [float(f"{np.float32(x):.7g}") for x in np.asarray(a, float)]  # noqa: E731
    out = {
        "provenance": {
            "repository": REPOSITORY, "commit": commit, "files": FILES,
            "read_with": "scripts/import_authors_run.py (an unpickler that allows only NumPy "
                         "arrays)",
            "axes": "test_loss[e] and gains[e]: checkpoint e, saved after e updates (their "
                    "epoch 0 is a forward pass only); train_loss[e]: the loss computed in "
                    "epoch e, before that epoch's update, so after max(e - 1, 0) updates",
        },
        "closed": {"train_loss": f32(closed_train), "test_loss": f32(closed_test),
                   "gains": [f32(g) for g in gains[0]]},
        "open": {"train_loss": f32(open_train), "test_loss": f32(open_test),
                 "gains": [f32(g) for g in gains[1]]},
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e3:.0f} kB) from {REPOSITORY} at {commit}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
