#!/usr/bin/env bash
# Phase 2 of NVIDIA's LAMB recipe: starts from phase 1's last checkpoint with longer
# sequences (seq 512, 80 predictions), global batch 32768, lr 4e-3, warmup 200 of 1563.
#   DATA_DIR=data_512/ BERT_CONFIG=bert_config.json PHASE1_DIR=phase1 OUTPUT_DIR=phase2 \
#     scripts/run_pretraining_phase2.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PHASE1_DIR="${PHASE1_DIR:-$ROOT/phase1}"
INIT="$(ls -t "$PHASE1_DIR"/model.ckpt-*.index 2>/dev/null | head -1 || true)"
[ -n "$INIT" ] || { echo "$(basename "$0"): no phase-1 checkpoint (model.ckpt-*) in $PHASE1_DIR: set PHASE1_DIR to phase 1's OUTPUT_DIR" >&2; exit 2; }
BATCH="${BATCH:-32768}" SEQ=512 PRED=80 STEPS="${STEPS:-1563}" WARMUP="${WARMUP:-200}" LR="${LR:-4e-3}" \
OPTIMIZER=lamb EPSILON=1e-6 OUTPUT_DIR="${OUTPUT_DIR:-$ROOT/phase2}" \
  exec "$ROOT/scripts/run_pretraining.sh" --num_accumulation_steps="${ACCUMULATION:-512}" \
  --init_checkpoint="${INIT%.index}" "$@"
