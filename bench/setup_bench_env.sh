#!/usr/bin/env bash
# A separate environment for the peers we benchmark against (HuggingFace's PyTorch BERT on
# torch 2.13 CPU), so they never leak into bert_tf's own environment.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${BERT_TF_BENCH_VENV:-$ROOT/.venv-bench}"
[ -x "$VENV/bin/python" ] || python3.11 -m venv "$VENV"
if ! "$VENV/bin/python" -c "import torch, transformers" 2>/dev/null; then
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check torch==2.13.0 "transformers==4.57.1" numpy
fi
echo "$VENV/bin/python"
