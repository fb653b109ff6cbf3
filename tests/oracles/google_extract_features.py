"""Oracle: Google's extract_features.py (bert-tensorflow 1.0.4), its main() unchanged.

  python google_extract_features.py --input_file=... --output_file=... --vocab_file=...
      --bert_config_file=... --init_checkpoint=... [--layers=...] [--max_seq_length=...]

TF 2.21 has no tf.estimator, so `tf.estimator.tpu` is replaced by the little main() uses: a
predict-only TPUEstimator(use_tpu=False) that builds Google's model_fn in a graph, runs its
predictions over the input_fn's batches in a session (variables initialized from the
checkpoint by model_fn's init_from_checkpoint) and yields single examples.
"""

import os
import sys
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tf1_shim  # noqa: E402,F401
import tensorflow.compat.v1 as tf  # noqa: E402
from bert import extract_features  # noqa: E402

PREDICT = "infer"


class PredictOnlyEstimator:
    def __init__(self, use_tpu, model_fn, config, predict_batch_size):
        assert not use_tpu
        self.model_fn, self.batch_size = model_fn, predict_batch_size

    def predict(self, input_fn, yield_single_examples=True):
        params = {"batch_size": self.batch_size}
        with tf.Graph().as_default():
            features = tf.data.make_one_shot_iterator(input_fn(params)).get_next()
            spec = self.model_fn(features, None, PREDICT, params)
            with tf.Session() as sess:
                sess.run(tf.global_variables_initializer())
                while True:
                    try:
                        batch = sess.run(spec.predictions)
                    except tf.errors.OutOfRangeError:
                        return
                    for i in range(len(batch["unique_id"])):
                        yield {k: v[i] for k, v in batch.items()}


tf.estimator = types.SimpleNamespace(
    ModeKeys=types.SimpleNamespace(PREDICT=PREDICT),
    tpu=types.SimpleNamespace(
        InputPipelineConfig=types.SimpleNamespace(PER_HOST_V2=2),
        RunConfig=lambda **kwargs: kwargs, TPUConfig=lambda **kwargs: kwargs,
        TPUEstimator=PredictOnlyEstimator,
        TPUEstimatorSpec=lambda mode, predictions, scaffold_fn: types.SimpleNamespace(
            predictions=predictions)))

if __name__ == "__main__":
    extract_features.FLAGS(sys.argv)
    extract_features.main(None)
