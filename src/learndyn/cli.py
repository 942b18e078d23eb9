"""The `learndyn` command line: run, sweep, list, show, claims, bench."""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from learndyn.errors import LearndynError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="learndyn: learning as a coupled dynamical system.")
console = Console(stderr=True)
out = Console()

# The persistent JAX compilation cache of the command line: compiled programs are kept in
# the user's cache folder, so a second `learndyn run` of the same recipe skips compiling
# (jax's own cache: keyed by the program, the jax version and the machine). On by default;
# LEARNDYN_COMPILE_CACHE=0 turns it off; JAX_COMPILATION_CACHE_DIR, if set, is the user's
# own choice and is left alone. Only the CLI sets it: importing learndyn sets nothing.
COMPILE_CACHE_ENV = "LEARNDYN_COMPILE_CACHE"


def compilation_cache_dir(environ=os.environ) -> Path | None:
    """Where the CLI keeps compiled programs ($XDG_CACHE_HOME or ~/.cache, then
    learndyn/jax), or None when it keeps none."""
    if environ.get(COMPILE_CACHE_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    if environ.get("JAX_COMPILATION_CACHE_DIR"):
        return None
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "learndyn" / "jax"


@app.callback()
def _setup() -> None:
    folder = compilation_cache_dir()
    if folder is None:
        return
    if "jax" in sys.modules:      # imported already (the CLI called from Python)
        sys.modules["jax"].config.update("jax_compilation_cache_dir", str(folder))
    else:                         # jax reads it when a command first imports it: `learndyn
        os.environ["JAX_COMPILATION_CACHE_DIR"] = str(folder)   # list` stays fast


@contextmanager
def _progress(enabled: bool = True):
    """A factory of per-phase progress callbacks on one rich Progress display."""
    if not enabled:
        yield None
        return
    prog = Progress(TextColumn("{task.description:<14}"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False)

    def factory(label: str):
        # the display starts with its first bar: a command that fails (or reads a finished
        # run) before training prints no empty progress line above its one-line error
        if not prog.live.is_started:
            prog.start()
        task = prog.add_task(label, total=None)

        def update(done: int, total: int):
            prog.update(task, completed=done, total=total)
        return update
    try:
        yield factory
    finally:
        if prog.live.is_started:
            prog.stop()


def _fail(err: Exception) -> None:
    """A user's mistake: one line on stderr (never wrapped, no traceback), exit code 2."""
    sys.stderr.write(f"error: {' '.join(str(err).split())}\n")
    raise typer.Exit(2)


def _summary_table(summary: dict, rows: list) -> Table:
    """A rich table of a world's rows: the first row names the columns, each other row is
    (label, one value per column)."""
    head, *body = rows
    t = Table(title=f"{summary.get('recipe')} ({summary.get('scale', '')}, "
                    f"{summary.get('seeds')} seed(s))")
    t.add_column(str(head[0]))
    for c in head[1]:
        t.add_column(str(c), justify="right")
    for label, values in body:
        t.add_row(str(label), *[str(v) for v in values])
    return t


def _print_summary(summary: dict, study: str | None = None) -> None:
    """The world's table of the summary (its `table`), each theory's error lines and the
    figures; a summary of an unknown world prints its scalars."""
    from learndyn.core.theory import format_report
    from learndyn.worlds import WORLDS, get_world
    world = get_world(study) if study in WORLDS or ":" in (study or "") else None
    rows = world.table(summary) if world is not None and hasattr(world, "table") else None
    if rows:
        out.print(_summary_table(summary, rows))
    else:
        from learndyn.report.text import print_generic_summary
        print_generic_summary(out, summary)
    for name, report in (summary.get("theory") or {}).items():
        for line in format_report(name, report):
            out.print(line, highlight=False)
    figs = summary.get("figures") or []
    for name, path in (figs.items() if isinstance(figs, dict) else ((None, f) for f in figs)):
        out.print(f"figure: {path}", highlight=False)


SET_HELP = ("override a field after the scale's table: KEY=VALUE, KEY dotted (train.lr), "
            "VALUE a TOML value (5e-3, true, \"x\", [1, 2]; a bare word is a string); "
            "repeatable")


def _overrides(sets: Optional[list[str]], seeds: Optional[int]) -> dict:
    """--set options, then --seeds (the same as --set seeds=N, and applied last)."""
    from learndyn.recipes import parse_sets
    over = parse_sets(sets or [])
    if seeds is not None:
        over["seeds"] = seeds
    return over


@app.command()
def run(recipe: str = typer.Argument(..., help="recipe name (see `learndyn list`) or a .toml path"),
        scale: str = typer.Option("smoke", help="smoke (seconds) or paper (the paper's setup)"),
        seeds: Optional[int] = typer.Option(None, help="number of seeds (one vectorised batch)"),
        sets: Optional[list[str]] = typer.Option(None, "--set", help=SET_HELP),
        out_dir: Optional[Path] = typer.Option(None, "--out", help="run folder (default runs/"
                                               "NAME-SCALE-sSEEDS, plus -set<hash> with --set)"),
        quiet: bool = typer.Option(False, help="no progress bars")):
    """Run a recipe: train, record, analyse, draw; prints the summary."""
    from learndyn.recipes import default_out, load_recipe, run_recipe
    try:
        over = _overrides(sets, seeds)
        rcp = load_recipe(recipe, scale, over)
        folder = out_dir or default_out(rcp, scale)
        with _progress(not quiet) as prog:
            summary = run_recipe(rcp, folder, progress=prog, scale=scale)
    except LearndynError as err:
        _fail(err)
    _print_summary(summary, rcp.study)
    out.print(f"run folder: {folder}")


@app.command()
def sweep(file: Path = typer.Argument(..., help="a sweep file (.toml: a recipe, axes, "
                                       "seeds), or the name of one in experiments/sweeps"),
          scale: Optional[str] = typer.Option(None, help="a table of the file's [scales] "
                                              "(default: the file's top level)"),
          sets: Optional[list[str]] = typer.Option(None, "--set", help="set a recipe field in "
                                                   "every cell: " + SET_HELP),
          executor: str = typer.Option("local", help="local (worker processes on this "
                                       "machine) or ray (a Ray cluster)"),
          workers: Optional[int] = typer.Option(None, min=1, help="worker processes (local; "
                                                "default: one per core)"),
          threads: Optional[int] = typer.Option(None, min=1, help="compute threads a worker "
                                                "(default: 1 with several workers)"),
          address: Optional[str] = typer.Option(None, help="ray: the cluster's address "
                                                "(default: RAY_ADDRESS; 'local' starts one here)"),
          out_dir: Optional[Path] = typer.Option(None, "--out", help="sweep folder (default "
                                                 "runs/sweeps/NAME-SCALE)"),
          quiet: bool = typer.Option(False, help="no progress bar")):
    """Run a sweep: every cell of a recipe's grid, on every core (or Ray); resumable."""
    from learndyn.recipes import parse_sets
    from learndyn.sweep import (LocalExecutor, RayExecutor, default_out, find_sweep,
                                load_sweep, run_sweep, sweep_claims)
    try:
        if executor not in ("local", "ray"):
            raise LearndynError(f"--executor: {executor!r} is not one of ['local', 'ray']")
        sw = load_sweep(find_sweep(file), scale, parse_sets(sets or []))
        folder = out_dir or default_out(sw)
        ex = (LocalExecutor(workers, threads) if executor == "local"
              else RayExecutor(address, workers, threads if threads is not None else 1))
        with _sweep_progress(not quiet, sw) as prog:
            manifest = run_sweep(sw, folder, ex, progress=prog)
        results = sweep_claims(sw, folder)
    except LearndynError as err:
        _fail(err)
    _print_sweep(sw, manifest, folder)
    if results:
        out.print("")
        for line in ledger_lines(results, f"claims on this sweep ({sw.scale} scale)", out.width):
            out.print(line, highlight=False)


@contextmanager
def _sweep_progress(enabled: bool, sw):
    if not enabled:
        yield None
        return
    prog = Progress(TextColumn("{task.description:<14}"), BarColumn(),
                    TextColumn("{task.completed}/{task.total} cells"), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=console, transient=False)
    task = prog.add_task(sw.name[:14], total=len(sw.cells))
    prog.start()

    def update(done: int, total: int, cell: dict):
        prog.update(task, completed=done, total=total)
        if cell.get("status") == "failed":
            prog.console.print(f"cell {cell.get('coords')} failed: {cell.get('error')}",
                               highlight=False)
    try:
        yield update
    finally:
        prog.stop()


def _print_sweep(sw, manifest: dict, folder: Path) -> None:
    from collections import Counter
    cells = [manifest["cells"][c.key] for c in sw.cells]
    counts = Counter(c["status"] for c in cells)
    secs = sum(c.get("seconds") or 0 for c in cells)
    out.print(f"sweep {sw.name} (scale {sw.scale}): {len(sw.cells)} cells of {sw.recipe} at "
              f"{sw.recipe_scale} scale", highlight=False)
    t = Table()
    for col in ("status", "cells"):
        t.add_column(col, justify="right" if col == "cells" else "left")
    for k, n in sorted(counts.items()):
        t.add_row(k, str(n))
    out.print(t)
    out.print(f"cell seconds (sum over cells): {secs:.1f}", highlight=False)
    if sw.table and (Path(folder) / "table.md").exists():
        out.print("per-seed distributions over the sweep:", highlight=False)
        out.print((Path(folder) / "table.md").read_text().rstrip(), highlight=False)
    if sw.phase and (Path(folder) / "phase.json").exists():
        ph = json.loads((Path(folder) / "phase.json").read_text())
        bounds = ", ".join(f"M={m:g}: {'n/a' if b is None else f'{b:.3g}'}"
                           for m, b in zip(ph["M"], ph["boundary"]))
        out.print(f"phase boundary p* per row: {bounds}", highlight=False)
        c = (ph.get("c_logM_over_M") or {})
        fit = next((x for x in ph.get("laws", []) if x["law"] == "c ln M / M"), None)
        if fit and c.get("lo"):
            out.print(f"p* = c ln M / M: c = {fit['params'][0]:.3g} (95 % bootstrap "
                      f"{c['lo'][0]:.3g}-{c['hi'][0]:.3g}); best law by AIC: "
                      f"{ph['best_law']}", highlight=False)
        out.print(f"figure: {Path(folder) / 'phase.png'}", highlight=False)
    if (Path(folder) / "results.zarr").exists():
        out.print(f"results: {Path(folder) / 'results.zarr'}", highlight=False)
    out.print(f"sweep folder: {folder}", highlight=False)


@app.command("list")
def list_cmd():
    """The recipes shipped (experiments/*.toml)."""
    import tomllib

    from learndyn.recipes import list_recipes
    t = Table(title="recipes")
    for col in ("name", "study", "paper", "description"):
        t.add_column(col)
    for name, path in list_recipes().items():
        try:
            raw = tomllib.loads(path.read_bytes().decode("utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
            t.add_row(name, "", "", f"(unreadable: {' '.join(str(err).split())})")
            continue
        t.add_row(name, *(str(raw.get(k, "")) for k in ("study", "paper", "description")))
    out.print(t)


@app.command()
def show(run_dir: Path = typer.Argument(..., help="a run folder"),
         as_json: bool = typer.Option(False, "--json", help="print summary.json")):
    """The summary of a finished run."""
    from learndyn.core.store import RunStore
    try:
        store = RunStore(run_dir)
        summary = store.read_summary()
        if summary is None:
            raise LearndynError(f"RUN: {run_dir} has no summary.json (not a finished run folder)")
        store.check_run()   # every phase folder against its manifest
    except LearndynError as err:
        _fail(err)
    if as_json:
        out.print_json(json.dumps(summary))
    else:
        _print_summary(summary, summary.get("study") or _study_of(run_dir))
        _print_resolution(run_dir, summary)


def _study_of(run_dir: Path) -> str | None:
    """The `study` of a run folder's recipe.toml (a summary written before summaries named
    their world), or None."""
    import tomllib
    try:
        return tomllib.loads((Path(run_dir) / "recipe.toml").read_text()).get("study")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None


def _print_resolution(run_dir: Path, summary: dict) -> None:
    """The scale and overrides the run was resolved with (its recipe.toml's [resolved])."""
    from learndyn.recipes import format_overrides, read_resolution
    try:
        res = read_resolution(run_dir)
    except LearndynError as err:
        _fail(err)
    if res is None:
        out.print(f"scale: {summary.get('scale') or 'not recorded'}; overrides: not recorded "
                  "(a run folder written before learndyn recorded them)", soft_wrap=True)
    else:
        out.print(f"scale: {res.get('scale')}; overrides: "
                  f"{format_overrides(res.get('overrides', {}))}", highlight=False,
                  markup=False, soft_wrap=True)   # one line, as --set options (copyable)


@app.command()
def claims(paper: Optional[str] = typer.Option(None, help="only this paper's claims"),
           scale: str = typer.Option("smoke", help="smoke or paper"),
           runs_dir: Path = typer.Option(Path("runs"), help="where the recipes' runs live"),
           seeds: Optional[int] = typer.Option(None, help="seeds per recipe (default: the recipe's)"),
           sets: Optional[list[str]] = typer.Option(None, "--set", help=SET_HELP + "; applies "
                                                    "to every recipe the ledger runs"),
           as_json: bool = typer.Option(False, "--json", help="print a JSON list"),
           run: bool = typer.Option(True, "--run/--no-run",
                                    help="run recipes that have no finished run (--no-run: "
                                         "their claims are inconclusive)")):
    """Check every claim of the ledger on recorded runs (running recipes that have not run)."""
    from learndyn.ledger import ledger
    from learndyn.recipes import format_overrides, parse_sets
    try:
        over = parse_sets(sets or [])
        with _progress(not as_json) as prog:
            results = ledger(_recipe_runs(scale, runs_dir, progress=prog, seeds=seeds,
                                          run_missing=run, overrides=over), paper)
    except LearndynError as err:
        _fail(err)
    if as_json:
        sys.stdout.write(json.dumps([r.as_dict() for r in results], indent=1) + "\n")
        return
    title = f"claims ledger ({scale} scale" + (f", --set {format_overrides(over)})"
                                                if over else ")")
    for line in ledger_lines(results, title, out.width):
        out.print(line, highlight=False)


_VERDICT_STYLE = {"verified": "green", "refuted": "red", "inconclusive": "yellow"}


def ledger_lines(results, title: str, width: int = 80) -> list:
    """The ledger laid out for a terminal `width` columns wide: one block per claim (its id
    and verdict on one line, then the claim, what was measured and what was expected,
    wrapped and indented), and a count of the verdicts at the end."""
    import textwrap

    from rich.text import Text
    width = max(40, width)
    lines: list = [Text(title, style="bold"), Text("")]
    for r in results:
        head = Text(r.id)
        head.append(" " * max(1, width - len(r.id) - len(r.verdict)))
        head.append(r.verdict, style=_VERDICT_STYLE[r.verdict])
        lines.append(head)
        for label, text in (("", r.claim), ("measured: ", r.measured),
                            ("expected: ", r.expected)):
            lines.extend(Text(x) for x in textwrap.wrap(
                label + text, width, initial_indent="  ", subsequent_indent="    "))
        lines.append(Text(""))
    counts = {v: sum(r.verdict == v for r in results) for v in _VERDICT_STYLE}
    lines.append(Text(f"{len(results)} claims: " + ", ".join(
        f"{n} {v}" for v, n in counts.items())))
    return lines


def _recipe_runs(scale: str, runs_dir: Path, *, overrides: dict, **kw):
    """The ledger's run source, with `overrides` (--set) applied to every recipe it runs."""
    from learndyn.ledger import RecipeRuns
    return RecipeRuns(scale, runs_dir, overrides=dict(overrides or {}), **kw)


@app.command()
def bench(name: Optional[str] = typer.Argument(None, help="one benchmark (default: all)"),
          as_json: bool = typer.Option(False, "--json", help="print a JSON list"),
          quick: bool = typer.Option(False, help="tiny sizes (checks the machinery only)")):
    """Speed against a PyTorch baseline, and the fraction of measured matmul throughput
    (the benchmarks are the repository's benchmarks/ folder: see learndyn/bench_loader.py)."""
    from learndyn.bench_loader import load_harness
    info: dict = {}
    try:
        harness = load_harness()
        with console.status("benchmarks") as status:
            rows = harness.run_benchmarks([name] if name else None, quick=quick, info=info,
                                          progress=lambda msg: status.update(msg))
    except LearndynError as err:
        _fail(err)
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=1) + "\n")
        return
    out.print(harness.format_table(rows, info.get("peak_flops"), info.get("notes", ())),
              highlight=False)


def main():  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
