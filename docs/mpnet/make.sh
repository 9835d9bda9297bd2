#!/usr/bin/env bash
# Regenerates docs/mpnet/ (issue 14: the MPNet-base rows of configs/cpu-repro.yaml) from the finished
# MPNet runs of that sweep.
#
#   docs/mpnet/make.sh [RUNS_DIR]               # from the repository root; RUNS_DIR default runs/cpu-scale
#
# Selects the finished (DONE) MPNet-base ChaosNLI-SNLI runs at the reproduction's scale (4,000 bulk
# items × 3 epochs, majority labels, no mitigation) and writes the analysis tables (ρ(H, AULC) per run
# and condition, un-learning by entropy bin, LoRA vs full FT on the same items, fit to the annotators,
# matched learning), the per-run key table (held-out SNLI accuracy) and the report's overview figures
# and per-run loss and JSD by entropy bin.
source "$(dirname "$0")/../make-lib.sh" "$@"
OUT=docs/mpnet

select_runs '.model == "mpnet-base" and .data.dataset == "chaosnli-snli" and .data.bulk == 4000
    and .train.epochs == 3 and .data.training_label == "majority"
    and (.train.item_weighting // "none") == "none" and (.train.label_smoothing // 0) == 0'

publish_analysis "$OUT" matched learning_curves unlearning_decomposition
