"""bert_tf: BERT pretraining and fine-tuning for TensorFlow 2 (Keras 3), faithful to Google's BERT.

Importing the package turns on TensorFlow's oneDNN kernels unless the user chose otherwise:
TF 2.21 leaves them off on AMD CPUs, where they make fp32 matmuls 15-40% faster. It also hides
TensorFlow's C++ start-up noise unless the user sets TF_CPP_MIN_LOG_LEVEL (`bert_tf.quiet`).
Both take effect only when `bert_tf` is imported before TensorFlow, which every script here does.
"""

import os

from bert_tf import quiet

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
quiet.install()

__version__ = "0.1.0"
