#!/usr/bin/env bash
# Fine-tune and evaluate Google's Chinese BERT (chinese_L-12_H-768_A-12) on a Chinese
# sentence (pair) classification task, as Ascend's run_downstream_classifier.sh: XNLI,
# LCQMC or ChnSentiCorp, seq 128, batch 32, lr 2e-5, 3 epochs; override by environment:
#   BERT_DIR=chinese_L-12_H-768_A-12 DATA_DIR=lcqmc TASK=LCQMC scripts/run_downstream_classifier.sh
# DATA_DIR is the task's folder: XNLI train.tsv/dev.tsv/test.tsv (text_a, text_b, label
# with a header), LCQMC train.txt/dev.txt/test.txt (question, question, 0/1),
# ChnSentiCorp train.tsv/dev.tsv/test.tsv (columns named by the header). Results go to
# OUTPUT_DIR (default output/$TASK). Set DO_TRAIN=false to evaluate a trained OUTPUT_DIR
# again; extra arguments are passed on to run_classifier.py (e.g. --use_xla). It is
# scripts/run_classifier.sh with the Chinese tasks' checks.
set -euo pipefail
: "${BERT_DIR:?set BERT_DIR to the Chinese BERT folder (vocab.txt, bert_config.json, bert_model.ckpt)}"
: "${DATA_DIR:?set DATA_DIR to the data folder of the task}"
TASK="${TASK:-LCQMC}"
case "${TASK,,}" in
  xnli|lcqmc|chnsenticorp) ;;
  *) echo "error: TASK=$TASK: expected XNLI, LCQMC or ChnSentiCorp (GLUE tasks: scripts/run_classifier.sh)" >&2
     exit 2 ;;
esac
TASK="$TASK" exec "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/run_classifier.sh" "$@"
