#!/usr/bin/env bash
# Regenerates docs/study-schedule/ (issue 11: MiniLM-L6 at the study's exact recipe) from the finished
# runs of configs/study-schedule.yaml.
#
#   docs/study-schedule/make.sh [RUNS_DIR]            # from the repository root; RUNS_DIR default runs/cpu-scale
#
# Selects the finished (DONE) MiniLM-L6 ChaosNLI-SNLI runs with 20,000 bulk items × 5 epochs and
# writes the analysis tables (ρ(H, AULC), un-learning, fit to the annotators, each LoRA run against
# the full-FT run at matched learning), the per-run key table (held-out SNLI accuracy) and the
# report's figures (learning → un-learning curves, JSD by entropy bin).
source "$(dirname "$0")/../make-lib.sh" "$@"
OUT=docs/study-schedule

select_runs '.model == "minilm-l6" and .data.dataset == "chaosnli-snli" and .data.bulk == 20000
    and .train.epochs == 5'

"$BIN/contested" analyze "${SELECTED[@]}" --out "$WORK/analysis" --n-boot 2000
"$BIN/contested" report "${SELECTED[@]}" --out "$WORK/report" --n-boot 2000
mkdir -p "$OUT/tables" "$OUT/figures"
cp "$WORK"/analysis/tables/*.md "$WORK"/analysis/tables/*.csv "$OUT/tables/"
cp "$WORK/analysis/runs.csv" "$OUT/"
for f in matched learning_curves unlearning_decomposition; do
  if [ -f "$WORK/analysis/$f.csv" ]; then cp "$WORK/analysis/$f.csv" "$OUT/"; fi
done
# The overview figures and each run's loss and JSD by entropy bin (data maps and trajectories stay in the report).
cp "$WORK"/report/figures/*.png "$OUT/figures/" 2>/dev/null || true
rm -f "$OUT"/figures/*_data_map.png "$OUT"/figures/*_trajectories.png "$OUT"/figures/*_entropy_aulc.png \
  "$OUT"/figures/entropy_histogram_*.png
echo "wrote $OUT"
