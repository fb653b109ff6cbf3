"""Task heads on the BERT encoder, and the task models that pair them, with Google's names.

| head                | Google TF1 variables                                                |
|---------------------|---------------------------------------------------------------------|
| MaskedLMHead        | cls/predictions/transform/{dense,LayerNorm}, cls/predictions/output_bias |
| NextSentenceHead    | cls/seq_relationship/output_weights, output_bias                    |
| SpanHead (SQuAD)    | cls/squad/output_weights, output_bias                               |
| ClassifierHead      | output_weights, output_bias   (run_classifier.py)                   |
| TaggerHead (NER)    | output_weights, output_bias   (per token)                           |

The MLM decoder is the transposed word-embedding table (tied weights), plus an output bias.
Every head returns float32 logits, whatever the compute dtype.
"""

import keras
import tensorflow as tf

from bert_tf import capture
from bert_tf.config import BertConfig
from bert_tf.modeling import BertEncoder, Dense, Dropout, LayerNorm, initializer


def gather_indexes(sequence_output, positions):
    """Rows of [batch, seq, hidden] at `positions` [batch, P] -> [batch * P, hidden]."""
    shape = tf.shape(sequence_output)
    batch, seq, width = shape[0], shape[1], sequence_output.shape[-1]
    offsets = tf.reshape(tf.range(batch) * seq, [-1, 1])
    flat_positions = tf.reshape(tf.cast(positions, tf.int32) + offsets, [-1])
    return tf.gather(tf.reshape(sequence_output, [-1, width]), flat_positions)


class OutputProjection(keras.layers.Layer):
    """logits = x @ output_weights^T + output_bias, Google's layout ([labels, hidden])."""

    def __init__(self, config: BertConfig, num_outputs, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.num_outputs = num_outputs

    def build(self, input_shape):
        self.output_weights = self.add_weight(
            name="output_weights", shape=(self.num_outputs, self.config.hidden_size),
            initializer=initializer(self.config))
        self.output_bias = self.add_weight(name="output_bias", shape=(self.num_outputs,),
                                           initializer="zeros")

    def call(self, x):
        z = tf.matmul(x, self.output_weights, transpose_b=True)
        logits = capture.dense([self.output_weights], x, z, transposed=True) + self.output_bias
        return tf.cast(logits, tf.float32)

    def tf1_weights(self, scope):
        prefix = f"{scope}/" if scope else ""
        return {f"{prefix}output_weights": self.output_weights,
                f"{prefix}output_bias": self.output_bias}


class MaskedLMHead(keras.layers.Layer):
    """Transform (dense + activation + LayerNorm), then the tied decoder and output bias."""

    def __init__(self, config: BertConfig, embeddings, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        # A callable, not the layer, so Keras does not track the embedding table twice.
        self._table = lambda: embeddings.word_embeddings
        self.transform = Dense(config.hidden_size, activation=config.hidden_act,
                               kernel_initializer=initializer(config), name="transform",
                               dtype=self.dtype_policy)
        self.layer_norm = LayerNorm(config.layer_norm_eps, name="LayerNorm", dtype=self.dtype_policy)

    def build(self, input_shape):
        self.transform.build((None, self.config.hidden_size))
        self.layer_norm.build((None, self.config.hidden_size))
        self.output_bias = self.add_weight(name="output_bias", shape=(self.config.vocab_size,),
                                           initializer="zeros")

    def call(self, sequence_output, positions):
        """-> [batch * P, vocab] float32 logits for the masked positions."""
        x = self.layer_norm(self.transform(gather_indexes(sequence_output, positions)))
        table = tf.cast(self._table(), x.dtype)
        logits = tf.matmul(x, table, transpose_b=True)
        return tf.cast(logits, tf.float32) + tf.cast(self.output_bias, tf.float32)

    def tf1_weights(self, scope="cls/predictions"):
        out = self.transform.tf1_weights(f"{scope}/transform/dense")
        out.update(self.layer_norm.tf1_weights(f"{scope}/transform/LayerNorm"))
        out[f"{scope}/output_bias"] = self.output_bias
        return out


# ---------------------------------------------------------------------- losses
def masked_lm_loss(logits, label_ids, label_weights):
    """Google's MLM loss: weighted mean of token cross-entropy over real predictions."""
    label_ids = tf.reshape(tf.cast(label_ids, tf.int32), [-1])
    weights = tf.reshape(tf.cast(label_weights, tf.float32), [-1])
    per_token = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=label_ids, logits=logits)
    return tf.reduce_sum(per_token * weights) / (tf.reduce_sum(weights) + 1e-5)


def classification_loss(logits, labels):
    """Mean cross-entropy over the batch (NSP, classifier, SQuAD start/end)."""
    labels = tf.reshape(tf.cast(labels, tf.int32), [-1])
    return tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))


# ---------------------------------------------------------------------- task models
class _TaskModel(keras.Model):
    """An encoder plus heads; `tf1_weights()` is the union of their Google names."""

    def __init__(self, config: BertConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.encoder = BertEncoder(config, dtype=self.dtype_policy)

    def encode(self, features, training, output_all_layers=False):
        return self.encoder(features["input_ids"], features.get("input_mask"),
                            features.get("segment_ids"), training=training,
                            output_all_layers=output_all_layers)

    def head_weights(self):
        return {}

    def tf1_weights(self):
        out = self.encoder.tf1_weights()
        out.update(self.head_weights())
        return out

    def head_rng_states(self):
        return {}

    def rng_states(self):
        """The dropout generators' states of the encoder and the head (see BertEncoder)."""
        out = self.encoder.rng_states()
        out.update(self.head_rng_states())
        return out

    def build_for(self, seq_length=8, **extra):
        """Create every variable by calling the model once on a dummy batch."""
        ones = tf.ones([1, seq_length], tf.int32)
        features = {"input_ids": ones, "input_mask": ones, "segment_ids": tf.zeros_like(ones)}
        features.update({k: v(seq_length) for k, v in extra.items()})
        self(features, training=False)
        return self


class BertModel(_TaskModel):
    """The bare encoder (extract_features, export): sequence, pooled and per-layer outputs."""

    def call(self, features, training=False):
        return self.encode(features, training, output_all_layers=True)


class BertPretrainingModel(_TaskModel):
    """Masked LM + next sentence prediction, Google's `cls/` heads."""

    def __init__(self, config: BertConfig, **kwargs):
        super().__init__(config, **kwargs)
        policy = self.dtype_policy
        self.masked_lm = MaskedLMHead(config, self.encoder.embeddings, name="predictions",
                                      dtype=policy)
        self.next_sentence = OutputProjection(config, 2, name="seq_relationship", dtype=policy)

    def call(self, features, training=False):
        out = self.encode(features, training)
        return {
            "masked_lm_logits": self.masked_lm(out["sequence_output"],
                                               features["masked_lm_positions"]),
            "next_sentence_logits": self.next_sentence(out["pooled_output"]),
        }

    def build_for(self, seq_length=8):
        return super().build_for(seq_length, masked_lm_positions=lambda s: tf.zeros([1, 1], tf.int32))

    def head_weights(self):
        out = self.masked_lm.tf1_weights("cls/predictions")
        out.update(self.next_sentence.tf1_weights("cls/seq_relationship"))
        return out


class BertSpanModel(_TaskModel):
    """SQuAD: start and end logits per token (Google's `cls/squad`)."""

    def __init__(self, config: BertConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.span = OutputProjection(config, 2, name="squad", dtype=self.dtype_policy)

    def call(self, features, training=False):
        sequence_output = self.encode(features, training)["sequence_output"]
        shape = tf.shape(sequence_output)
        logits = self.span(tf.reshape(sequence_output, [-1, self.config.hidden_size]))
        logits = tf.reshape(logits, [shape[0], shape[1], 2])
        return {"start_logits": logits[:, :, 0], "end_logits": logits[:, :, 1]}

    def head_weights(self):
        return self.span.tf1_weights("cls/squad")


class BertClassifierModel(_TaskModel):
    """Sentence (pair) classification, or regression with `num_labels=1` (Google's names)."""

    def __init__(self, config: BertConfig, num_labels, **kwargs):
        super().__init__(config, **kwargs)
        self.num_labels = num_labels
        self.dropout = Dropout(config.hidden_dropout_prob, dtype=self.dtype_policy)
        self.classifier = OutputProjection(config, num_labels, name="classifier",
                                           dtype=self.dtype_policy)

    def call(self, features, training=False):
        pooled = self.encode(features, training)["pooled_output"]
        return {"logits": self.classifier(self.dropout(pooled, training=training))}

    def head_weights(self):
        return self.classifier.tf1_weights("")

    def head_rng_states(self):
        return self.dropout.rng_states("head/dropout")


class BertTaggerModel(_TaskModel):
    """Token classification (NER): logits for every token."""

    def __init__(self, config: BertConfig, num_labels, **kwargs):
        super().__init__(config, **kwargs)
        self.num_labels = num_labels
        self.dropout = Dropout(config.hidden_dropout_prob, dtype=self.dtype_policy)
        self.tagger = OutputProjection(config, num_labels, name="tagger", dtype=self.dtype_policy)

    def call(self, features, training=False):
        sequence_output = self.encode(features, training)["sequence_output"]
        shape = tf.shape(sequence_output)
        flat = tf.reshape(self.dropout(sequence_output, training=training),
                          [-1, self.config.hidden_size])
        logits = self.tagger(flat)
        return {"logits": tf.reshape(logits, [shape[0], shape[1], self.num_labels])}

    def head_weights(self):
        return self.tagger.tf1_weights("")

    def head_rng_states(self):
        return self.dropout.rng_states("head/dropout")
