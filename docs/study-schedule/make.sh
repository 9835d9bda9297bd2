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

publish_analysis "$OUT" matched learning_curves unlearning_decomposition
