# Shared set-up of the docs/*/make.sh scripts, which regenerate committed tables and figures from
# finished runs. Source it first thing, passing the script's arguments:
#   source "$(dirname "$0")/../make-lib.sh" "$@"
# It stops on the first error, moves to the repository root, sets RUNS (the first argument, default
# runs/cpu-scale), BIN (the virtual environment's bin, $BIN overrides) and WORK (a temporary folder
# removed on exit), and defines select_runs and publish_analysis.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUNS=${1:-runs/cpu-scale}
BIN=${BIN:-.venv/bin}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# select_runs JQ_FILTER: the finished (DONE) run folders of $RUNS whose config.json the jq filter
# accepts, into the array SELECTED (a killed or failed run has no DONE and is never picked).
select_runs() {
  mapfile -t SELECTED < <(for done in "$RUNS"/*/DONE; do
    dir=$(dirname "$done")
    jq -e "$1" "$dir/config.json" >/dev/null && echo "$dir"
  done; true)
  echo "runs: ${#SELECTED[@]}"
}

# publish_analysis OUT [NAME...]: `contested analyze` and `contested report` of the SELECTED runs into
# OUT: every analysis table (tables/, Markdown and CSV), runs.csv, the analysis's NAME.csv files that
# exist, and the report's overview figures with each run's loss and JSD by entropy bin (data maps,
# trajectories and entropy histograms stay in the report).
publish_analysis() {
  local out=$1; shift
  "$BIN/contested" analyze "${SELECTED[@]}" --out "$WORK/analysis" --n-boot 2000
  "$BIN/contested" report "${SELECTED[@]}" --out "$WORK/report" --n-boot 2000
  mkdir -p "$out/tables" "$out/figures"
  cp "$WORK"/analysis/tables/*.md "$WORK"/analysis/tables/*.csv "$out/tables/"
  cp "$WORK/analysis/runs.csv" "$out/"
  for name in "$@"; do
    if [ -f "$WORK/analysis/$name.csv" ]; then cp "$WORK/analysis/$name.csv" "$out/"; fi
  done
  cp "$WORK"/report/figures/*.png "$out/figures/" 2>/dev/null || true
  rm -f "$out"/figures/*_data_map.png "$out"/figures/*_trajectories.png "$out"/figures/*_entropy_aulc.png \
    "$out"/figures/entropy_histogram_*.png
  echo "wrote $out"
}
