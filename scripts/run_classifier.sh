#!/usr/bin/env bash
# Fine-tune and evaluate a BERT in Google's release layout on a GLUE task. Defaults are
# Google's run_classifier.py recipe (seq 128, batch 32, lr 2e-5, 3 epochs); override by
# environment:
#   BERT_DIR=uncased_L-12_H-768_A-12 GLUE_DIR=glue TASK=MRPC scripts/run_classifier.sh
# BERT_DIR holds vocab.txt, bert_config.json and bert_model.ckpt; the task's files are read
# from $GLUE_DIR/$TASK (or DATA_DIR). TASK is one of MRPC, CoLA, SST-2, RTE, STS-B, WNLI,
# MNLI, MNLI-mm. Results go to OUTPUT_DIR (default output/$TASK): eval_results.txt (dev)
# and test_results.tsv (test). Extra arguments are passed on to run_classifier.py
# (e.g. --use_xla --num_train_steps=100).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PY:-$ROOT/.venv/bin/python}"
: "${BERT_DIR:?set BERT_DIR to a folder with vocab.txt, bert_config.json and bert_model.ckpt}"
TASK="${TASK:-MRPC}"
if [[ -z "${DATA_DIR:-}" ]]; then
  : "${GLUE_DIR:?set GLUE_DIR to the folder holding the GLUE tasks (MRPC/, CoLA/, ...), or DATA_DIR to the folder of the task}"
  DATA_DIR="$GLUE_DIR/$TASK"
fi
exec "$PY" "$ROOT/run_classifier.py" \
  --task_name="$TASK" --data_dir="$DATA_DIR" \
  --vocab_file="$BERT_DIR/vocab.txt" --bert_config_file="$BERT_DIR/bert_config.json" \
  --init_checkpoint="${INIT_CHECKPOINT:-$BERT_DIR/bert_model.ckpt}" \
  --do_lower_case="${DO_LOWER_CASE:-true}" \
  --output_dir="${OUTPUT_DIR:-$ROOT/output/$TASK}" \
  --do_train="${DO_TRAIN:-true}" --do_eval="${DO_EVAL:-true}" --do_predict="${DO_PREDICT:-true}" \
  --max_seq_length="${SEQ:-128}" --train_batch_size="${BATCH:-32}" \
  --learning_rate="${LR:-2e-5}" --num_train_epochs="${EPOCHS:-3}" "$@"
