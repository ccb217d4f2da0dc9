#!/usr/bin/env bash
# Trains the shipped reacher model (cpu preset), then the SIGReg lambda=0 ablation, then tabulates both.
#   STEPS=4000 ABLATION_STEPS=800 experiments/model/train_reacher.sh
# Runs one after the other (a 2-core CPU gains nothing from running them together). Each run resumes if
# its folder already holds a training state, so the script can be restarted after an interruption.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
DATA=${DATA:-data/reacher.h5}
STEPS=${STEPS:-4000}
ABLATION_STEPS=${ABLATION_STEPS:-800}
# Idle OpenMP threads sleep instead of spinning: on a shared 2-core machine spinning made steps ~10x slower.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

train() {  # train OUT STEPS [extra args...]
  local out=$1 steps=$2; shift 2
  local resume=()
  [[ -f $out/train_state.pt ]] && resume=(--resume)
  "$PY" -m world_model.training.train --config experiments/configs/reacher.yaml --data "$DATA" --out "$out" \
    --steps "$steps" --no-progress "${resume[@]}" "$@"
}

train runs/reacher_cpu "$STEPS"
train runs/reacher_lambda0 "$ABLATION_STEPS" --set sigreg_lambda=0.0 eval_every=100
"$PY" experiments/model/summarize_train_runs.py runs/reacher_cpu runs/reacher_lambda0 \
  --out experiments/model/world_model_runs.md --plot experiments/model/world_model_runs.png
