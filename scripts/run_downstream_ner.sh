#!/usr/bin/env bash
# Fine-tune and evaluate BERT for named-entity recognition: CoNLL-2003 (English), MSRA or
# People's Daily (Chinese); seq 128, batch 32, lr 5e-5, 3 epochs; override by environment:
#   BERT_DIR=cased_L-12_H-768_A-12 DATA_DIR=conll2003 TASK=conll2003 scripts/run_downstream_ner.sh
#   BERT_DIR=chinese_L-12_H-768_A-12 DATA_DIR=msra_ner TASK=msra scripts/run_downstream_ner.sh
# DATA_DIR holds eng.train/eng.testa/eng.testb (conll2003), train.ner/dev.ner/test.ner
# (msra, BMES) or example.train/example.dev/example.test (peoples_daily). CoNLL-2003 is
# cased by default (DO_LOWER_CASE=false, for Google's cased BERT); give DO_LOWER_CASE=true
# with an uncased model. LABEL_FILE fixes the label list (default: the labels in the data).
# Results go to OUTPUT_DIR (default output/$TASK): eval_results.txt, label_list.txt,
# eval_predictions.txt and test_predictions.txt ("word gold predicted", conlleval's input).
# Extra arguments are passed on to run_ner.py (e.g. --use_xla).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PY:-$ROOT/.venv/bin/python}"
: "${BERT_DIR:?set BERT_DIR to a folder with vocab.txt, bert_config.json and bert_model.ckpt}"
: "${DATA_DIR:?set DATA_DIR to the folder of the data set}"
TASK="${TASK:-conll2003}"
case "${TASK,,}" in
  conll2003) LOWER="${DO_LOWER_CASE:-false}" ;;
  msra|peoples_daily) LOWER="${DO_LOWER_CASE:-true}" ;;
  *) echo "error: TASK=$TASK: expected conll2003, msra or peoples_daily" >&2
     exit 2 ;;
esac
LABEL_ARGS=()
if [[ -n "${LABEL_FILE:-}" ]]; then LABEL_ARGS=(--label_file="$LABEL_FILE"); fi
exec "$PY" "$ROOT/run_ner.py" \
  --task_name="$TASK" --data_dir="$DATA_DIR" "${LABEL_ARGS[@]}" \
  --vocab_file="$BERT_DIR/vocab.txt" --bert_config_file="$BERT_DIR/bert_config.json" \
  --init_checkpoint="${INIT_CHECKPOINT:-$BERT_DIR/bert_model.ckpt}" \
  --do_lower_case="$LOWER" --output_dir="${OUTPUT_DIR:-$ROOT/output/$TASK}" \
  --do_train="${DO_TRAIN:-true}" --do_eval="${DO_EVAL:-true}" --do_predict="${DO_PREDICT:-true}" \
  --max_seq_length="${SEQ:-128}" --train_batch_size="${BATCH:-32}" \
  --learning_rate="${LR:-5e-5}" --num_train_epochs="${EPOCHS:-3}" "$@"
