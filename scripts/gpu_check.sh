#!/usr/bin/env bash
# The first thing to run on a GPU machine: device placement, a float16 and an XLA training
# step, a 2-GPU mirrored step and a Horovod (NCCL) allreduce, one PASS/FAIL/SKIP line each.
# Exit status 0 when every check that could run passed. On a machine without a GPU it says so.
#   scripts/gpu_check.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PY:-$ROOT/.venv/bin/python}"
cd "$ROOT" && exec "$PY" -m bert_tf.distribute.gpu_check
