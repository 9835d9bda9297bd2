"""`contested analyze` and `contested report`: from finished run directories to tables and a page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from contested.commands import console, literal

# Run, model and dataset names, metrics and paths are user text: printed literally.
_out = console()
_err = console(stderr=True)

Paths = Annotated[
    list[Path],
    typer.Argument(metavar="RUN_OR_SWEEP_DIR...", help="Run directories or folders holding them (e.g. runs/); "
                   "every sub-directory with a DONE file is a finished run.", show_default=False),
]
Out = Annotated[Path, typer.Option("--out", help="Output folder (created).", show_default=False)]
Metric = Annotated[str, typer.Option("--metric", help="Per-item metric correlated with entropy: aulc (the "
                                     "study's), aulc_trapz, delta_loss, max_rise, ...")]
NBoot = Annotated[int, typer.Option("--n-boot", min=0, help="Bootstrap resamples of every CI (0: no CIs and no paired bootstrap comparison).")]
Seed = Annotated[int, typer.Option("--seed", help="Seed of the bootstrap draws.")]

# The per-run key numbers that fit an 80-column terminal; the files hold every column.


def _analyze(paths: list[Path], *, metric: str, n_boot: int, seed: int):
    from contested.report.analysis import analyze
    from contested.report.runs import load_runs

    runs = load_runs(paths, logits=True)  # the human-fit tables (JSD, KL to the annotators) need them
    for run in runs:
        if "entropy" not in run.items.columns or run.items["entropy"].isna().all():
            from contested.errors import located

            raise located(run.path, "its items have no annotation entropy (imported without --dataset?); "
                          "import it again with `contested import cartography DIR --out RUNS --dataset NAME`, "
                          "or leave it out")
    with _err.status(f"analysing {len(runs)} run(s) ({n_boot:,} bootstrap resamples per CI)…"):
        return analyze(runs, metric=metric, n_boot=n_boot, seed=seed)


def _print_key_table(analysis) -> None:
    from rich import box

    from contested.report.render import ci_text

    table = analysis.tables[0]
    disp, data = table.display, table.data
    cols = {}
    rt = analysis.runs_table
    if rt["model"].nunique() > 1 or rt["dataset"].nunique() > 1:
        cols |= {"Model": disp["Model"], "Dataset": disp["Dataset"]}
    # lr, noise and mitigation (shown where the runs differ in them) go under the method: 80 columns
    extras = [disp[c].map(lambda v, c=c: f"{c} {v}" if c != "mitigation" else v)
              for c in ("lr", "noise", "mitigation") if c in disp.columns]
    method = ["\n".join([m, " · ".join(e)]) if e else m
              for m, *e in zip(disp["Method"], *extras, strict=True)]
    cols |= {"Method": method, "seed": disp["seed"]}
    cols |= {
        "n": disp["n"],
        "ρ [95% CI]": [ci_text(r, lo, hi, ci_digits=2)
                       for r, lo, hi in zip(data["rho"], data["ci_low"], data["ci_high"], strict=True)],
        "p": disp["p"], "Δℓ\nclean": disp["Δℓ clean"], "Δℓ\ncont.": disp["Δℓ contested"],
        "val\nacc": disp["val. acc."],
    }
    rich_table = Table(title=literal(f"ρ(annotation entropy, {analysis.metric}) per run\n"
                                     "(tracked items, eval snapshots; Δℓ in nats)"),
                       title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1), collapse_padding=True, show_edge=False,
                       pad_edge=False)
    for col in cols:
        rich_table.add_column(literal(col), justify="left" if col in ("Model", "Dataset", "Method") else "right",
                              no_wrap=True)
    for row in zip(*(list(map(literal, v)) for v in cols.values()), strict=True):
        rich_table.add_row(*row)
    _out.print(rich_table)


def register(app: typer.Typer) -> None:
    """Add ``analyze`` and ``report`` to the top-level app."""

    @app.command("analyze")
    def analyze_cmd(paths: Paths, out: Out, metric: Metric = "aulc", n_boot: NBoot = 10_000,
                    seed: Seed = 0) -> None:
        """Per-item metrics, per-run and across-run statistics and the study's tables.

        Writes CSV + Parquet tables (runs, item_metrics, run_statistics, conditions, and where the
        runs allow: paired_lora_vs_full, noise_tests, human_fit, unlearning_decomposition,
        learning_curves, matched) and tables/ (Markdown, CSV, LaTeX); the columns are documented
        in docs/report.md.
        """
        from contested.report.analysis import write_analysis

        analysis = _analyze(paths, metric=metric, n_boot=n_boot, seed=seed)
        written = write_analysis(analysis, out)
        _print_key_table(analysis)
        _out.print(literal(f"wrote {len(written)} files to {out}/ (item_metrics, run_statistics, conditions, "
                           "tables/)"))

    @app.command("report")
    def report_cmd(
        paths: Paths, out: Out, metric: Metric = "aulc", n_boot: NBoot = 10_000, seed: Seed = 0,
        title: Annotated[str, typer.Option("--title", help="Heading of the page.")] =
        "Annotation entropy and learning dynamics",
        max_conditions: Annotated[int, typer.Option("--max-conditions", min=1, help="Per-run figures for at most "
                                                    "this many conditions (one run each).")] = 12,
    ) -> None:
        """One self-contained HTML page (figures embedded, tables, every run's config and provenance).

        Writes OUT/report.html and OUT/figures/ (each figure as PNG and PDF). The page has no
        external references, so it opens offline.
        """
        from contested.report.html import write_report

        analysis = _analyze(paths, metric=metric, n_boot=n_boot, seed=seed)
        with _err.status("drawing figures…"):
            page = write_report(analysis, out, title=title, max_conditions=max_conditions)
        _print_key_table(analysis)
        _out.print(literal(f"report: {page}"))
