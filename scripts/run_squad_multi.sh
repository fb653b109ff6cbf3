#!/usr/bin/env bash
# SQuAD fine-tuning on N Horovod workers of this host:  scripts/run_squad_multi.sh N
#   BERT_DIR=uncased_L-12_H-768_A-12 SQUAD_DIR=squad scripts/run_squad_multi.sh 8
# --train_batch_size (BATCH) is the global batch, split over the workers; the learning rate
# applies to it (--scale_lr_by_workers to multiply it by N). CONTROLLER=mpi uses Open MPI.
# Several hosts (same paths, shared OUTPUT_DIR): HOSTS=host1:8,host2:8 scripts/run_squad_multi.sh 16
# Everything else as scripts/run_squad.sh (VERSION, MODE, SEQ, ...); extra arguments go to run_squad.py.
set -euo pipefail
N="${1:?usage: scripts/run_squad_multi.sh N [run_squad.py flags]}"; shift
source "$(dirname "${BASH_SOURCE[0]}")/check_settings.sh"
need_count N
WORKERS="$N" exec "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/run_squad.sh" "$@"
