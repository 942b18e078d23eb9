"""The `learndyn` command line: run, list, show, claims, bench."""

from __future__ import annotations

import json
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


def _summary_table(summary: dict) -> Table:
    t = Table(title=f"{summary.get('recipe')} ({summary.get('scale', '')}, {summary.get('seeds')} seed(s))")
    t.add_column("quantity")
    modes = [m for m in ("closed", "open") if m in summary]
    for m in modes:
        t.add_column(f"{m} loop", justify="right")

    def fmt(v):
        if v is None:
            return "—"
        if isinstance(v, float):
            return f"{v:.4g}"
        if isinstance(v, list):
            return "[" + ", ".join(fmt(x) for x in v) + "]"
        return str(v)
    for key in ("initial_deployed_loss", "peak_deployed_loss", "final_loss", "final_objective",
                "first_stable_step", "final_gains", "stage_boundaries", "n_diverged"):
        if any(key in summary[m] for m in modes):
            t.add_row(key, *[fmt(summary[m].get(key)) for m in modes])
    return t


def _print_summary(summary: dict) -> None:
    if "closed" in summary:
        out.print(_summary_table(summary))
        over = summary.get("over_seeds", {})
        if "open_peak_above_initial_fraction" in over:
            out.print(f"open-loop deployed peak above initial: "
                      f"{over['open_peak_above_initial_fraction']:.0%} of seeds")
        for m, q in over.get("first_stable_step", {}).items():
            if q["n"]:
                out.print(f"first stable step ({m}): median {q['median']:.0f}, "
                          f"quartiles {q['q25']:.0f}-{q['q75']:.0f} over {q['n']} stable seeds")
    else:
        from learndyn.report.text import print_generic_summary
        print_generic_summary(out, summary)
    for f in summary.get("figures", []):
        out.print(f"figure: {f}")


@app.command()
def run(recipe: str = typer.Argument(..., help="recipe name (see `learndyn list`) or a .toml path"),
        scale: str = typer.Option("smoke", help="smoke (seconds) or paper (the paper's setup)"),
        seeds: Optional[int] = typer.Option(None, help="number of seeds (one vectorised batch)"),
        out_dir: Optional[Path] = typer.Option(None, "--out", help="run folder (default runs/NAME-SCALE-sSEEDS)"),
        quiet: bool = typer.Option(False, help="no progress bars")):
    """Run a recipe: train, record, analyse, draw; prints the summary."""
    from learndyn.recipes import default_out, load_recipe, run_recipe
    try:
        over = {"seeds": seeds} if seeds is not None else {}
        rcp = load_recipe(recipe, scale, over)
        folder = out_dir or default_out(rcp, scale)
        with _progress(not quiet) as prog:
            summary = run_recipe(rcp, folder, progress=prog, scale=scale)
    except LearndynError as err:
        _fail(err)
    _print_summary(summary)
    out.print(f"run folder: {folder}")


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
        _print_summary(summary)


@app.command()
def claims(paper: Optional[str] = typer.Option(None, help="only this paper's claims"),
           scale: str = typer.Option("smoke", help="smoke or paper"),
           runs_dir: Path = typer.Option(Path("runs"), help="where the recipes' runs live"),
           seeds: Optional[int] = typer.Option(None, help="seeds per recipe (default: the recipe's)"),
           as_json: bool = typer.Option(False, "--json", help="print a JSON list"),
           run: bool = typer.Option(True, "--run/--no-run",
                                    help="run recipes that have no finished run (--no-run: "
                                         "their claims are inconclusive)")):
    """Check every claim of the ledger on recorded runs (running recipes that have not run)."""
    from learndyn.ledger import RecipeRuns, ledger
    try:
        with _progress(not as_json) as prog:
            results = ledger(RecipeRuns(scale, runs_dir, progress=prog, seeds=seeds,
                                        run_missing=run), paper)
    except LearndynError as err:
        _fail(err)
    if as_json:
        sys.stdout.write(json.dumps([r.as_dict() for r in results], indent=1) + "\n")
        return
    t = Table(title=f"claims ledger ({scale} scale)")
    for col in ("id", "claim", "verdict", "measured", "expected"):
        t.add_column(col, overflow="fold")
    colors = {"verified": "green", "refuted": "red", "inconclusive": "yellow"}
    for r in results:
        t.add_row(r.id, r.claim, f"[{colors[r.verdict]}]{r.verdict}[/]", r.measured, r.expected)
    out.print(t)


@app.command()
def bench(name: Optional[str] = typer.Argument(None, help="one benchmark (default: all)"),
          as_json: bool = typer.Option(False, "--json", help="print a JSON list"),
          quick: bool = typer.Option(False, help="tiny sizes (checks the machinery only)")):
    """Speed against a PyTorch baseline, and the fraction of measured matmul throughput."""
    from learndyn.core.bench import format_table, run_benchmarks
    info: dict = {}
    try:
        with console.status("benchmarks") as status:
            rows = run_benchmarks([name] if name else None, quick=quick, info=info,
                                  progress=lambda msg: status.update(msg))
    except LearndynError as err:
        _fail(err)
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=1) + "\n")
        return
    out.print(format_table(rows, info.get("peak_flops"), info.get("notes", ())), highlight=False)


def main():  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
