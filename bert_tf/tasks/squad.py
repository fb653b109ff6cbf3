"""SQuAD span prediction for the Estimator (Google's run_squad model_fn): the loss is the
mean of the start and end position cross-entropies; predictions are both logit vectors."""

import tensorflow as tf

from bert_tf.estimator import TRAIN, EstimatorSpec
from bert_tf.heads import BertSpanModel, classification_loss


class SquadTask:
    def __init__(self, bert_config):
        self.bert_config = bert_config

    def create_model(self, params):
        return BertSpanModel(self.bert_config).build_for()

    def model_fn(self, model, features, mode, params):
        out = model(features, training=mode == TRAIN)
        start = tf.cast(out["start_logits"], tf.float32)
        end = tf.cast(out["end_logits"], tf.float32)
        spec = EstimatorSpec(predictions={"unique_ids": features["unique_ids"],
                                          "start_logits": start, "end_logits": end})
        if mode == TRAIN:
            spec.loss = (classification_loss(start, features["start_positions"])
                         + classification_loss(end, features["end_positions"])) / 2.0
        return spec
