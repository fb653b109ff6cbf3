#!/usr/bin/env bash
# Chinese reading comprehension (CMRC 2018, DRCD: SQuAD-format, Chinese text) with
# run_squad.py and a Chinese BERT (as Ascend's run_downstream_reading.sh).
#
#   BERT_DIR=chinese_L-12_H-768_A-12 TASK=cmrc2018 DATA_DIR=cmrc2018 scripts/run_downstream_reading.sh
#   BERT_DIR=chinese_L-12_H-768_A-12 TASK=drcd DATA_DIR=drcd scripts/run_downstream_reading.sh
#
# TASK=cmrc2018 reads $DATA_DIR/cmrc2018_train.json and cmrc2018_dev.json (TRAIN_FILE /
# PREDICT_FILE override); TASK=drcd reads train.json and dev.json. MODE=predict predicts with
# INIT (a fine-tuned checkpoint) only. Extra arguments go to run_squad.py.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PY:-$ROOT/.venv/bin/python}"
: "${BERT_DIR:?set BERT_DIR to a Chinese BERT folder (vocab.txt, bert_config.json, bert_model.ckpt)}"
: "${DATA_DIR:?set DATA_DIR to the CMRC 2018 or DRCD folder}"
TASK="${TASK:-cmrc2018}"
case "$TASK" in
  cmrc2018) train="cmrc2018_train.json"; dev="cmrc2018_dev.json" ;;
  drcd) train="train.json"; dev="dev.json" ;;
  *) echo "error: TASK=$TASK: known tasks are cmrc2018 and drcd" >&2; exit 2 ;;
esac
args=(--vocab_file="$BERT_DIR/vocab.txt" --bert_config_file="$BERT_DIR/bert_config.json"
      --init_checkpoint="${INIT:-$BERT_DIR/bert_model.ckpt}" --do_lower_case=true
      --output_dir="${OUTPUT_DIR:-$ROOT/output/$TASK}" --max_seq_length="${SEQ:-512}"
      --doc_stride="${STRIDE:-128}" --max_answer_length="${MAX_ANSWER:-50}"
      --do_predict --predict_file="${PREDICT_FILE:-$DATA_DIR/$dev}" --predict_batch_size="${PREDICT_BATCH:-8}")
if [ "${MODE:-train_predict}" != predict ]; then
  args+=(--do_train --train_file="${TRAIN_FILE:-$DATA_DIR/$train}" --train_batch_size="${BATCH:-32}"
         --learning_rate="${LR:-3e-5}" --num_train_epochs="${EPOCHS:-2}"
         --iterations_per_loop="${ITERATIONS:-100}" --save_checkpoints_steps="${SAVE:-1000}")
fi
exec "$PY" "$ROOT/run_squad.py" "${args[@]}" "$@"
