"""Make Google's original BERT (PyPI `bert-tensorflow==1.0.4`) importable under TF 2.21.

It imports `tensorflow.contrib.layers`, removed in TF 2; `tf_slim.layers` is the same code.
Needs TF_USE_LEGACY_KERAS=1 (tf-keras) in the environment. Test-only: used by oracle
subprocesses, never by the package.
"""

import sys
import types

import tensorflow.compat.v1 as tf
import tf_slim

contrib = types.ModuleType("tensorflow.contrib")
contrib.layers = tf_slim.layers
sys.modules["tensorflow.contrib"] = contrib
sys.modules["tensorflow.contrib.layers"] = tf_slim.layers
tf.disable_v2_behavior()
