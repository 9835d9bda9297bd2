#!/usr/bin/env bash
# Regenerates docs/noise/ (issue 14: the study's noise-injection experiment at CPU scale) from the
# finished runs of configs/noise-cpu.yaml and their noise-free controls (the lr ladder's seed-42 runs).
#
#   docs/noise/make.sh [RUNS_DIR]               # from the repository root; RUNS_DIR default runs/cpu-scale
#
# Selects the finished (DONE) MiniLM-L6 ChaosNLI-SNLI runs at the demo's scale, seed 42, majority
# labels without mitigation, LoRA r=4 at lr 2e-3 or full FT at lr 1e-4, at any noise rate. Writes
# the noise table (clean-item AULC of each noisy run against its control: paired one-sided Wilcoxon,
# paired Cohen's d) and the per-run key table (held-out accuracy).
source "$(dirname "$0")/../make-lib.sh" "$@"
OUT=docs/noise

select_runs '.model == "minilm-l6" and .data.dataset == "chaosnli-snli" and .data.bulk == 4000
    and .train.epochs == 3 and .train.seed == 42 and .data.training_label == "majority"
    and (.train.item_weighting // "none") == "none" and (.train.label_smoothing // 0) == 0
    and ((.method.method == "lora" and .method.rank == 4 and .train.lr == 0.002)
         or (.method.method == "full" and .train.lr == 0.0001))'

"$BIN/contested" analyze "${SELECTED[@]}" --out "$WORK/analysis" --n-boot 2000
mkdir -p "$OUT/tables"
cp "$WORK"/analysis/tables/*.md "$WORK"/analysis/tables/*.csv "$OUT/tables/"
cp "$WORK/analysis/runs.csv" "$OUT/"
if [ -f "$WORK/analysis/noise_tests.csv" ]; then cp "$WORK/analysis/noise_tests.csv" "$OUT/"; fi
echo "wrote $OUT"
