#!/usr/bin/env bash
# SQuAD fine-tuning and prediction with run_squad.py. Set BERT_DIR (vocab.txt,
# bert_config.json, bert_model.ckpt) and SQUAD_DIR; override the rest by environment.
#
#   BERT_DIR=uncased_L-12_H-768_A-12 SQUAD_DIR=squad scripts/run_squad.sh           # v1.1
#   VERSION=2.0 BERT_DIR=... SQUAD_DIR=... scripts/run_squad.sh                      # v2.0
#   MODE=predict INIT=out/squad/model.ckpt-7000 BERT_DIR=... SQUAD_DIR=... scripts/run_squad.sh
#                                                   # inference only, from a fine-tuned checkpoint
# v1.1 reads $SQUAD_DIR/train-v1.1.json and dev-v1.1.json, v2.0 the -v2.0 files. Extra
# arguments go to run_squad.py (e.g. --use_xla --amp --use_tfrecord).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PY:-$ROOT/.venv/bin/python}"
source "$ROOT/scripts/check_settings.sh"
[ -z "${WORKERS:-}" ] || need_count WORKERS
: "${BERT_DIR:?set BERT_DIR to a folder with vocab.txt, bert_config.json and bert_model.ckpt}"
: "${SQUAD_DIR:?set SQUAD_DIR to the folder with the SQuAD json files}"
VERSION="${VERSION:-1.1}"
MODE="${MODE:-train_predict}"
OUTPUT_DIR="${OUTPUT_DIR:-$ROOT/output/squad_v$VERSION}"
args=(--vocab_file="$BERT_DIR/vocab.txt" --bert_config_file="$BERT_DIR/bert_config.json"
      --init_checkpoint="${INIT:-$BERT_DIR/bert_model.ckpt}" --output_dir="$OUTPUT_DIR"
      --do_lower_case="${LOWER:-true}" --max_seq_length="${SEQ:-384}" --doc_stride="${STRIDE:-128}"
      --predict_file="$SQUAD_DIR/dev-v$VERSION.json" --predict_batch_size="${PREDICT_BATCH:-8}" --do_predict)
[ "$VERSION" = 2.0 ] && args+=(--version_2_with_negative --null_score_diff_threshold="${NULL_THRESHOLD:-0.0}")
if [ "$MODE" != predict ]; then
  args+=(--do_train --train_file="$SQUAD_DIR/train-v$VERSION.json" --train_batch_size="${BATCH:-32}"
         --learning_rate="${LR:-3e-5}" --num_train_epochs="${EPOCHS:-2}"
         --iterations_per_loop="${ITERATIONS:-100}" --save_checkpoints_steps="${SAVE:-1000}")
fi
if [ -n "${WORKERS:-}" ]; then
  exec "$PY" -m bert_tf.distribute.horovodrun -np "$WORKERS" -H "${HOSTS:-localhost:$WORKERS}" "--${CONTROLLER:-gloo}" \
    "$PY" "$ROOT/run_squad.py" --horovod "${args[@]}" "$@"
fi
exec "$PY" "$ROOT/run_squad.py" "${args[@]}" "$@"
