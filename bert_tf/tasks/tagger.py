"""Token classification (NER) for the Estimator: cross-entropy on each word's first
WordPiece only (`label_mask`), predictions as label ids per position."""

import tensorflow as tf

from bert_tf.estimator import EVAL, TRAIN, EstimatorSpec
from bert_tf.heads import BertTaggerModel


class TaggerTask:
    def __init__(self, bert_config, num_labels):
        self.bert_config = bert_config
        self.num_labels = num_labels

    def create_model(self, params):
        return BertTaggerModel(self.bert_config, self.num_labels).build_for()

    def model_fn(self, model, features, mode, params):
        logits = tf.cast(model(features, training=mode == TRAIN)["logits"], tf.float32)
        labels = tf.cast(features["label_ids"], tf.int32)
        weights = tf.cast(features["label_mask"], tf.float32)
        per_token = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        total = tf.reduce_sum(weights)
        predictions = tf.argmax(logits, -1, output_type=tf.int32)
        spec = EstimatorSpec(loss=tf.reduce_sum(per_token * weights) / tf.maximum(total, 1.0),
                             predictions={"predictions": predictions})
        if mode == EVAL:
            correct = tf.cast(tf.equal(predictions, labels), tf.float32)
            spec.metrics = {"eval_loss": (tf.reduce_sum(per_token * weights), total),
                            "eval_token_accuracy": (tf.reduce_sum(correct * weights), total)}
        return spec
