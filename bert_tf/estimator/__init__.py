"""The Estimator-style runner: one training loop for every task."""

from bert_tf.estimator.estimator import EVAL, PREDICT, TRAIN, Estimator, EstimatorSpec
from bert_tf.estimator.run_config import RunConfig

__all__ = ["Estimator", "EstimatorSpec", "RunConfig", "TRAIN", "EVAL", "PREDICT"]
