"""contested.report: the study's tables, figures and one self-contained HTML page (no torch).

Modules (import the one you need; this package imports nothing, so loading runs does not pull in
matplotlib):

runs
    ``find_runs(paths)``, ``load_run(path)``, ``load_runs(paths)``, ``runs_table(runs)``: finished
    run directories (those with ``DONE``) and their files.
analysis
    ``analyze(runs, *, metric, n_boot, seed) -> Analysis`` and ``write_analysis(analysis, out)``:
    per-item metrics, per-run and across-run statistics, the study tables (``contested analyze``).
tables
    ``rho_table`` (Table 1), ``unlearning_table`` (Table 2), ``rank_table`` (Table 3),
    ``noise_table``, ``key_table``: tables in → :class:`~contested.report.render.ReportTable`
    (Markdown, LaTeX, HTML, CSV).
figures, condition_figures
    ``hero_figure``, ``trajectories_figure``, ``entropy_histogram_figure``,
    ``entropy_metric_figure``, ``data_map_figure``, ``forest_figure``, ``rank_figure``: tables in →
    matplotlib ``Figure`` out; ``save_figure(fig, path_stem)`` writes PNG and PDF atomically
    (``figure_parts``: the row selection and per-bin bands they share).
human, human_tables, human_figures
    ``human_results(runs, runs_table, n_boot=, seed=)``: fit to the annotators (JSD, KL), the
    un-learning decomposition, learning curves and LoRA vs full FT at matched learning;
    ``annotator_fit_table``, ``decomposition_table``, ``matched_table``; ``learning_curves_figure``,
    ``jsd_by_bin_figure``.
html
    ``write_report(analysis, out_dir)``: ``report.html`` + ``figures/`` (``contested report``).

Column contracts: ``docs/ARCHITECTURE.md``; output files: ``docs/report.md``.
"""
