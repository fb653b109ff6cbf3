"""Sentence (pair) classification and regression for the Estimator (Google's run_classifier
model_fn): cross-entropy over labels, or mean squared error with one output (STS-B)."""

import tensorflow as tf

from bert_tf.estimator import EVAL, TRAIN, EstimatorSpec
from bert_tf.heads import BertClassifierModel, classification_loss


class ClassifierTask:
    def __init__(self, bert_config, num_labels, is_regression=False):
        self.bert_config = bert_config
        self.num_labels = 1 if is_regression else num_labels
        self.is_regression = is_regression

    def create_model(self, params):
        return BertClassifierModel(self.bert_config, self.num_labels).build_for()

    def model_fn(self, model, features, mode, params):
        logits = tf.cast(model(features, training=mode == TRAIN)["logits"], tf.float32)
        real = tf.cast(tf.reshape(features.get("is_real_example", tf.ones_like(features["label_ids"])),
                                  [-1]), tf.float32)
        if self.is_regression:
            predictions = tf.reshape(logits, [-1])
            labels = tf.reshape(tf.cast(features["label_ids"], tf.float32), [-1])
            per_example = tf.square(predictions - labels)
            spec = EstimatorSpec(loss=tf.reduce_mean(per_example),
                                 predictions={"predictions": predictions})
        else:
            labels = tf.reshape(tf.cast(features["label_ids"], tf.int32), [-1])
            per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
            predictions = tf.argmax(logits, -1, output_type=tf.int32)
            spec = EstimatorSpec(loss=classification_loss(logits, labels),
                                 predictions={"probabilities": tf.nn.softmax(logits),
                                              "predictions": predictions})
        if mode == EVAL:
            spec.metrics = {"eval_loss": (tf.reduce_sum(per_example * real), tf.reduce_sum(real))}
            if not self.is_regression:
                correct = tf.cast(tf.equal(predictions, labels), tf.float32)
                spec.metrics["eval_accuracy"] = (tf.reduce_sum(correct * real), tf.reduce_sum(real))
        spec.predictions["is_real_example"] = real
        return spec
