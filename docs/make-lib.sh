# Shared set-up of the docs/*/make.sh scripts, which regenerate committed tables and figures from
# finished runs. Source it first thing, passing the script's arguments:
#   source "$(dirname "$0")/../make-lib.sh" "$@"
# It stops on the first error, moves to the repository root, sets RUNS (the first argument, default
# runs/cpu-scale), BIN (the virtual environment's bin, $BIN overrides) and WORK (a temporary folder
# removed on exit), and defines select_runs.
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
