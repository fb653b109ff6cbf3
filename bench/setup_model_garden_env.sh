#!/usr/bin/env bash
# A separate environment for the TF Model Garden peer (tf-models-official 2.20.0, which pins
# TensorFlow 2.20 and Keras 2 through tf-keras), so it never meets bert_tf's TensorFlow 2.21.
# Prints the environment's python as its last line (bench/bench_model.py --peer=model_garden).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${BERT_TF_MODEL_GARDEN_VENV:-$ROOT/.venv-modelgarden}"
[ -x "$VENV/bin/python" ] || python3.11 -m venv "$VENV"
if ! TF_USE_LEGACY_KERAS=1 TF_CPP_MIN_LOG_LEVEL=3 "$VENV/bin/python" -c \
    "import official.nlp.modeling.models, tensorflow as tf; assert tf.__version__.startswith('2.20')" 2>/dev/null; then
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
    "tf-models-official==2.20.0" "tensorflow==2.20.0" numpy
fi
echo "$VENV/bin/python"
