"""The pretraining task for the Estimator: masked LM + next sentence, Google's losses and
evaluation metrics (masked-LM accuracy and mean loss, next-sentence accuracy and loss)."""

import tensorflow as tf

from bert_tf.estimator import EVAL, TRAIN, EstimatorSpec
from bert_tf.heads import BertPretrainingModel, classification_loss, masked_lm_loss


class PretrainingTask:
    def __init__(self, bert_config):
        self.bert_config = bert_config

    def create_model(self, params):
        return BertPretrainingModel(self.bert_config).build_for()

    def model_fn(self, model, features, mode, params):
        out = model(features, training=mode == TRAIN)
        mlm_logits, nsp_logits = out["masked_lm_logits"], out["next_sentence_logits"]
        mlm_loss = masked_lm_loss(mlm_logits, features["masked_lm_ids"], features["masked_lm_weights"])
        nsp_loss = classification_loss(nsp_logits, features["next_sentence_labels"])
        spec = EstimatorSpec(loss=mlm_loss + nsp_loss,
                             logs={"masked_lm_loss": mlm_loss, "next_sentence_loss": nsp_loss})
        if mode == EVAL:
            spec.metrics = pretraining_metrics(mlm_logits, nsp_logits, features)
        spec.predictions = {
            "masked_lm_predictions": tf.reshape(tf.argmax(mlm_logits, -1, output_type=tf.int32),
                                                tf.shape(features["masked_lm_ids"])),
            "next_sentence_probabilities": tf.nn.softmax(nsp_logits),
        }
        return spec


def pretraining_metrics(mlm_logits, nsp_logits, features):
    """name -> (total, count) per batch; the Estimator sums both over batches and divides."""
    ids = tf.reshape(features["masked_lm_ids"], [-1])
    weights = tf.reshape(tf.cast(features["masked_lm_weights"], tf.float32), [-1])
    per_token = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=ids, logits=mlm_logits)
    correct = tf.cast(tf.equal(tf.argmax(mlm_logits, -1, output_type=tf.int32), ids), tf.float32)
    labels = tf.reshape(features["next_sentence_labels"], [-1])
    nsp_per = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=nsp_logits)
    nsp_correct = tf.cast(tf.equal(tf.argmax(nsp_logits, -1, output_type=tf.int32), labels), tf.float32)
    batch = tf.cast(tf.shape(labels)[0], tf.float32)
    return {
        "masked_lm_accuracy": (tf.reduce_sum(correct * weights), tf.reduce_sum(weights)),
        "masked_lm_loss": (tf.reduce_sum(per_token * weights), tf.reduce_sum(weights)),
        "next_sentence_accuracy": (tf.reduce_sum(nsp_correct), batch),
        "next_sentence_loss": (tf.reduce_sum(nsp_per), batch),
    }
