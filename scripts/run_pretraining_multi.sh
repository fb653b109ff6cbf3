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
N="${1:?usage: scripts/run_pretraining_multi.sh N [run_pretraining.py flags]}"; shift
source "$(dirname "${BASH_SOURCE[0]}")/check_settings.sh"
need_count N
WORKERS="$N" exec "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/run_pretraining.sh" "$@"
