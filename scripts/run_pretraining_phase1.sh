#!/usr/bin/env bash
# Phase 1 of NVIDIA's LAMB recipe: seq 128, 20 predictions, global batch 65536 reached by
# gradient accumulation, lr 6e-3, warmup 2843 of 7038 steps. On one machine, set
# BATCH/ACCUMULATION to what fits; the global batch is BATCH (accumulated micro-batches).
#   DATA_DIR=data_128/ BERT_CONFIG=bert_config.json OUTPUT_DIR=phase1 scripts/run_pretraining_phase1.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BATCH="${BATCH:-65536}" ACCUMULATION="${ACCUMULATION:-1024}" \
SEQ=128 PRED=20 STEPS="${STEPS:-7038}" WARMUP="${WARMUP:-2843}" LR="${LR:-6e-3}" \
OPTIMIZER=lamb EPSILON=1e-6 OUTPUT_DIR="${OUTPUT_DIR:-$ROOT/phase1}" \
  exec "$ROOT/scripts/run_pretraining.sh" --num_accumulation_steps="${ACCUMULATION:-1024}" "$@"
