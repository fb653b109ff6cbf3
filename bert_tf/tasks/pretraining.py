"""The pretraining task: masked LM + next sentence on Google's records; Google's losses and
evaluation metrics (masked-LM accuracy and mean loss, next-sentence accuracy and loss), and
the serving outputs of a pretrained model (masked-LM logits at every position)."""

from bert_tf import records
from bert_tf.estimator.spec import EVAL, TRAIN, EstimatorSpec


class PretrainingTask:
    name = "pretraining"
    needs_num_labels = False

    def __init__(self, bert_config, max_seq_length=128, max_predictions_per_seq=20,
                 use_v2_feature_names=False):
        self.bert_config = bert_config
        self.max_seq_length = max_seq_length
        self.max_predictions_per_seq = max_predictions_per_seq
        self.use_v2_feature_names = use_v2_feature_names

    def create_model(self, params=None):
        from bert_tf.heads import BertPretrainingModel
        return BertPretrainingModel(self.bert_config).build_for()

    # ------------------------------------------------------------------ inputs
    def parse(self, serialized, is_training=True):
        return records.parse_pretraining(serialized, self.max_seq_length, self.max_predictions_per_seq,
                                         self.use_v2_feature_names)

    def sequence_fields(self, is_training=True):
        return records.sequence_fields(records.PRETRAINING_FIELDS)

    def check_files(self, files):
        """Each file's first record has the schema of this task's settings, and the token ids of
        a sample fit the model's vocab (or a clear error)."""
        from bert_tf import input_pipeline
        input_pipeline.check_pretraining_files(files, self.max_seq_length, self.max_predictions_per_seq,
                                               self.use_v2_feature_names, self.bert_config.vocab_size)

    def input_fn(self, files, batch_size, is_training, seed=12345, shard_by_record=False, **kwargs):
        """`kwargs`: as `input_pipeline.input_fn` takes them (buckets, max_batches)."""
        from bert_tf import input_pipeline
        return input_pipeline.input_fn(files, self.parse, batch_size, is_training, seed, shard_by_record,
                                       **kwargs)

    # ------------------------------------------------------------------ model
    def model_fn(self, model, features, mode, params):
        import tensorflow as tf

        from bert_tf.heads import classification_loss, masked_lm_loss
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

    @staticmethod
    def serving_outputs(model, features):
        """`masked_lm_logits` [batch, seq, vocab] at every position (a client may mask any) and
        `next_sentence_logits`."""
        import tensorflow as tf
        shape = tf.shape(features["input_ids"])
        positions = tf.tile(tf.range(shape[1])[tf.newaxis], [shape[0], 1])
        out = model(dict(features, masked_lm_positions=positions), training=False)
        return {"masked_lm_logits": tf.reshape(out["masked_lm_logits"],
                                               [shape[0], shape[1], model.config.vocab_size]),
                "next_sentence_logits": out["next_sentence_logits"]}


def pretraining_metrics(mlm_logits, nsp_logits, features):
    """name -> (total, count) per batch; the Estimator sums both over batches and divides."""
    import tensorflow as tf
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
