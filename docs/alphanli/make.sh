#!/usr/bin/env bash
# Regenerates docs/alphanli/ (issue 14: the study's αNLI task at CPU scale, K = 2) from the finished
# runs of configs/alphanli-cpu.yaml.
#
#   docs/alphanli/make.sh [RUNS_DIR]            # from the repository root; RUNS_DIR default runs/cpu-scale
#
# Selects the finished (DONE) MiniLM-L6 ChaosNLI-αNLI runs and writes the analysis tables (ρ(H,
# AULC), un-learning, fit to the annotators, LoRA vs full FT paired), the per-run key table and the
# report's figures for them.
source "$(dirname "$0")/../make-lib.sh" "$@"
OUT=docs/alphanli

select_runs '.model == "minilm-l6" and .data.dataset == "chaosnli-alphanli"'

"$BIN/contested" analyze "${SELECTED[@]}" --out "$WORK/analysis" --n-boot 2000
"$BIN/contested" report "${SELECTED[@]}" --out "$WORK/report" --n-boot 2000
mkdir -p "$OUT/tables" "$OUT/figures"
cp "$WORK"/analysis/tables/*.md "$WORK"/analysis/tables/*.csv "$OUT/tables/"
cp "$WORK/analysis/runs.csv" "$OUT/"
# The overview figures and each run's loss and JSD by entropy bin (data maps and trajectories stay in the report).
cp "$WORK"/report/figures/*.png "$OUT/figures/" 2>/dev/null || true
rm -f "$OUT"/figures/*_data_map.png "$OUT"/figures/*_trajectories.png "$OUT"/figures/*_entropy_aulc.png \
  "$OUT"/figures/entropy_histogram_*.png
echo "wrote $OUT"
