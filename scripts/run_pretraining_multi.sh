#!/usr/bin/env bash
# Pretraining on N workers of this host with Horovod:  scripts/run_pretraining_multi.sh N
#   DATA_DIR=data/ BERT_CONFIG=bert_config.json OUTPUT_DIR=model_dir scripts/run_pretraining_multi.sh 8
# --train_batch_size is the GLOBAL batch (split over the N workers); --learning_rate applies to
# that global batch (add --scale_lr_by_workers for a per-worker learning rate). The data needs
# at least N files (create_pretraining_data.py --output_dir --num_output_shards), or pass
# --shard_by_record. CONTROLLER=mpi uses Open MPI instead of Gloo. Extra arguments go to
# run_pretraining.py. Other settings as scripts/run_pretraining.sh.
#
# Several hosts (same paths and a shared OUTPUT_DIR on every host), e.g. 2 x 8 workers:
#   HOSTS=host1:8,host2:8 scripts/run_pretraining_multi.sh 16
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PY:-$ROOT/.venv/bin/python}"
N="${1:?usage: scripts/run_pretraining_multi.sh N [run_pretraining.py flags]}"; shift
: "${DATA_DIR:?set DATA_DIR to a folder of pretraining TFRecords}"
: "${BERT_CONFIG:?set BERT_CONFIG to a bert_config.json}"
exec "$(dirname "$PY")/horovodrun" -np "$N" -H "${HOSTS:-localhost:$N}" "--${CONTROLLER:-gloo}" \
  "$PY" "$ROOT/run_pretraining.py" --horovod \
  --bert_config_file="$BERT_CONFIG" --input_files_dir="$DATA_DIR" \
  --output_dir="${OUTPUT_DIR:-$ROOT/model_dir}" --do_train --do_eval \
  --train_batch_size="${BATCH:-128}" --max_seq_length="${SEQ:-128}" \
  --max_predictions_per_seq="${PRED:-20}" --num_train_steps="${STEPS:-500000}" \
  --num_warmup_steps="${WARMUP:-10000}" --learning_rate="${LR:-1e-4}" \
  --optimizer_type="${OPTIMIZER:-adamw}" --adam_epsilon="${EPSILON:-1e-4}" \
  --iterations_per_loop="${ITERATIONS:-100}" --save_checkpoints_steps="${SAVE:-10000}" "$@"
