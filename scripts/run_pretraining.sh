#!/usr/bin/env bash
# One pretraining run. Defaults are the Ascend configuration (AdamW, lr 1e-4, warmup 10000,
# batch 128, 500000 steps, seq 128, 20 predictions, epsilon 1e-4; OPTIMIZER=lamb or thor, the
# latter without an epsilon); override by environment:
#   DATA_DIR=data/ BERT_CONFIG=bert_config.json OUTPUT_DIR=model_dir scripts/run_pretraining.sh
# Extra arguments are passed on to run_pretraining.py (e.g. --use_xla --amp).
# WORKERS=N runs it on N Horovod workers (what scripts/run_pretraining_multi.sh N does);
# DEVICE picks --device (scripts/run_pretraining_multiworker.sh sets multiworker).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PY:-$ROOT/.venv/bin/python}"
source "$ROOT/scripts/check_settings.sh"
[ -z "${WORKERS:-}" ] || need_count WORKERS
: "${DATA_DIR:?set DATA_DIR to a folder of pretraining TFRecords}"
: "${BERT_CONFIG:?set BERT_CONFIG to a bert_config.json}"
args=(--bert_config_file="$BERT_CONFIG" --input_files_dir="$DATA_DIR"
      --output_dir="${OUTPUT_DIR:-$ROOT/model_dir}" --do_train --do_eval
      --train_batch_size="${BATCH:-128}" --max_seq_length="${SEQ:-128}"
      --max_predictions_per_seq="${PRED:-20}" --num_train_steps="${STEPS:-500000}"
      --num_warmup_steps="${WARMUP:-10000}" --learning_rate="${LR:-1e-4}"
      --optimizer_type="${OPTIMIZER:-adamw}"
      --iterations_per_loop="${ITERATIONS:-100}" --save_checkpoints_steps="${SAVE:-10000}")
optimizer="${OPTIMIZER:-adamw}"
previous=""
for arg in "$@"; do  # an --optimizer_type among the extra arguments wins, as in absl
  [[ "$arg" == --optimizer_type=* ]] && optimizer="${arg#*=}"
  [ "$previous" = --optimizer_type ] && optimizer="$arg"
  previous="$arg"
done
[ "$optimizer" = thor ] || args+=(--adam_epsilon="${EPSILON:-1e-4}")  # THOR has no epsilon flag
[ -n "${DEVICE:-}" ] && args+=(--device="$DEVICE")
if [ -n "${WORKERS:-}" ]; then
  exec "$PY" -m bert_tf.distribute.horovodrun -np "$WORKERS" -H "${HOSTS:-localhost:$WORKERS}" "--${CONTROLLER:-gloo}" \
    "$PY" "$ROOT/run_pretraining.py" --horovod "${args[@]}" "$@"
fi
exec "$PY" "$ROOT/run_pretraining.py" "${args[@]}" "$@"
