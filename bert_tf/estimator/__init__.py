"""The Estimator-style runner: one training loop for every task.

`Estimator` is imported on first use (it imports TensorFlow); the modes, `EstimatorSpec` and
`RunConfig` are light, so tasks and scripts can name them before TensorFlow is loaded.
"""

from bert_tf.estimator.run_config import RunConfig
from bert_tf.estimator.spec import EVAL, PREDICT, TRAIN, EstimatorSpec

__all__ = ["Estimator", "EstimatorSpec", "RunConfig", "TRAIN", "EVAL", "PREDICT"]


def __getattr__(name):
    if name == "Estimator":
        from bert_tf.estimator.estimator import Estimator
        return Estimator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
