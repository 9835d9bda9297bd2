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

publish_analysis "$OUT"
