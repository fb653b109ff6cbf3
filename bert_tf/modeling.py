"""Google's BERT encoder as Keras 3 layers, numerically the same as Google's `modeling.py`.

The encoder keeps its hidden states as a [batch * seq, hidden] matrix between layers, as
Google's code does, so every dense layer is one plain 2-D matmul. Every layer names its
variables after Google's TF1 checkpoint (`tf1_weights()`), which is how `checkpoints.py`
maps checkpoints one to one without relying on Keras' own variable paths.

Under a mixed precision policy, matmuls run in the compute dtype while LayerNorm and the
attention softmax run in float32.

With `use_relative_position` (NEZHA) there is no position table: attention adds a fixed
sinusoid of the clipped distance j - i to the keys and values (`relative_position_encoding`).
"""

import functools
import math

import keras
import numpy as np
import tensorflow as tf

from bert_tf import capture
from bert_tf.config import BertConfig


# ---------------------------------------------------------------------- activations
def gelu(x):
    """Google's gelu: the tanh approximation its checkpoints were trained with."""
    cdf = 0.5 * (1.0 + tf.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * (x * x * x))))
    return x * cdf


def gelu_exact(x):
    """The erf form of gelu (HuggingFace's `gelu`)."""
    return 0.5 * x * (1.0 + tf.math.erf(x / math.sqrt(2.0)))


_ACTIVATIONS = {
    "gelu": gelu,
    "gelu_exact": gelu_exact,
    "relu": tf.nn.relu,
    "swish": tf.nn.silu,
    "silu": tf.nn.silu,
    "tanh": tf.tanh,
    "linear": None,
}


def get_activation(name):
    """Activation function by Google's name (see `config.ACTIVATIONS`)."""
    if name not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(_ACTIVATIONS)}")
    return _ACTIVATIONS[name]


def initializer(config: BertConfig):
    """Google's initializer: truncated normal (2 stddev) with `initializer_range`."""
    return keras.initializers.TruncatedNormal(stddev=config.initializer_range)


# ---------------------------------------------------------------------- building blocks
def _fmix32(h):
    """MurmurHash3's 32-bit finalizer: a cheap, well-mixing integer hash (uint32 -> uint32)."""
    h = tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, tf.constant(16, tf.uint32)))
    h = h * tf.constant(0x85EBCA6B, tf.uint32)
    h = tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, tf.constant(13, tf.uint32)))
    h = h * tf.constant(0xC2B2AE35, tf.uint32)
    return tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, tf.constant(16, tf.uint32)))


_GOLDEN = 0x9E3779B1


def hashed_dropout_mask(shape, rate, seed):
    """Boolean keep-mask with P(keep) = 1 - rate, from a counter hash of (element, seed).

    Stateless and deterministic for a given seed, and about 300x cheaper under XLA on a CPU
    than Philox-based dropout (the RNG dominated a training step): one integer hash per
    element, fused with the multiply. `seed` is a [2] integer tensor.
    """
    seed = tf.cast(seed, tf.uint32)
    key = _fmix32(seed[0] * tf.constant(_GOLDEN, tf.uint32) + _fmix32(seed[1] + tf.constant(1, tf.uint32)))
    counter = tf.cast(tf.reshape(tf.range(tf.reduce_prod(shape)), shape), tf.uint32)
    bits = _fmix32(counter * tf.constant(_GOLDEN, tf.uint32) + key)
    return bits >= tf.constant(min(int(round(rate * 2 ** 32)), 2 ** 32 - 1), tf.uint32)


class Dropout(keras.layers.Layer):
    """Inverted dropout with `hashed_dropout_mask`; its seed comes from a Keras SeedGenerator.

    The generator's state is a model variable, so it is saved and restored with checkpoints:
    a resumed run draws the same masks as an uninterrupted one.
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = float(rate)
        self.seed_generator = keras.random.SeedGenerator(seed) if self.rate > 0 else None

    def call(self, x, training=False):
        if not training or self.rate == 0:
            return x
        keep = hashed_dropout_mask(tf.shape(x), self.rate, self.seed_generator.next())
        return tf.where(keep, x * tf.cast(1.0 / (1.0 - self.rate), x.dtype), tf.zeros_like(x))

    def rng_states(self, name):
        """{name: the generator's state variable} (nothing when the rate is 0)."""
        return {name: self.seed_generator.state} if self.seed_generator is not None else {}


class Dense(keras.layers.Layer):
    """y = act(x @ kernel + bias) on a [rows, in] matrix; variables `kernel`, `bias`."""

    def __init__(self, units, activation=None, kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = get_activation(activation) if isinstance(activation, str) else activation
        self.kernel_initializer = kernel_initializer or "glorot_uniform"

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], self.units),
                                      initializer=self.kernel_initializer)
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")

    def call(self, x):
        y = capture.dense([self.kernel], x, tf.matmul(x, self.kernel)) + self.bias
        return self.activation(y) if self.activation is not None else y

    def tf1_weights(self, scope):
        return {f"{scope}/kernel": self.kernel, f"{scope}/bias": self.bias}


class LayerNorm(keras.layers.Layer):
    """Layer normalization over the last axis, computed in float32, epsilon as configured.

    The layer's own policy is float32 whatever the model's, so gamma/beta are read in float32
    under mixed precision; inputs are not cast on the way in, and the result goes back out in
    the input's dtype.
    """

    def __init__(self, epsilon=1e-12, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self._convert_input_args = False
        self.epsilon = epsilon

    def build(self, input_shape):
        self.gamma = self.add_weight(name="gamma", shape=(input_shape[-1],), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(input_shape[-1],), initializer="zeros")

    def call(self, x):
        x32 = tf.cast(x, tf.float32)
        mean, variance = tf.nn.moments(x32, axes=[-1], keepdims=True)
        y = (x32 - mean) * tf.math.rsqrt(variance + self.epsilon) * self.gamma + self.beta
        return tf.cast(y, x.dtype)

    def tf1_weights(self, scope):
        return {f"{scope}/gamma": self.gamma, f"{scope}/beta": self.beta}


# ---------------------------------------------------------------------- relative positions
@functools.lru_cache(maxsize=None)
def sinusoid_table(max_relative_position, depth):
    """NEZHA's functional relative position table T [2K + 1, depth] (float64, read-only):
    T[p, 2m] = sin(p / 10000^(2m / depth)), T[p, 2m + 1] = cos(same), p = distance + K.

    A constant of the architecture, not a trained variable: nothing of it is in checkpoints.
    """
    positions = np.arange(2 * max_relative_position + 1, dtype=np.float64)[:, None]
    angles = positions / np.power(10000.0, np.arange(0, depth, 2, dtype=np.float64) / depth)
    table = np.zeros([len(positions), depth])
    table[:, 0::2] = np.sin(angles)
    table[:, 1::2] = np.cos(angles)
    table.setflags(write=False)
    return table


def relative_position_encoding(seq_length, max_relative_position, depth, dtype=tf.float32):
    """R [seq, seq, depth] with R[i, j] = T[clip(j - i, -K, K) + K] (see `sinusoid_table`).

    The encoder computes it once per forward pass and hands it to every layer (it is the
    same in all of them, for keys and values alike); see docs/benchmarks.md for why.
    """
    table = tf.constant(sinusoid_table(max_relative_position, depth), tf.float32)
    positions = tf.range(seq_length)
    distance = positions[tf.newaxis, :] - positions[:, tf.newaxis]
    index = tf.clip_by_value(distance, -max_relative_position, max_relative_position)
    return tf.cast(tf.gather(table, index + max_relative_position), dtype)


class Embeddings(keras.layers.Layer):
    """Word + position + token-type embeddings, LayerNorm, dropout -> [batch * seq, hidden].

    With relative positions (NEZHA) there is no position table: word + token type only.
    """

    def __init__(self, config: BertConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.layer_norm = LayerNorm(config.layer_norm_eps, name="LayerNorm", dtype=self.dtype_policy)
        self.dropout = Dropout(config.hidden_dropout_prob, dtype=self.dtype_policy)

    def build(self, input_shape):
        c = self.config
        init = initializer(c)
        self.word_embeddings = self.add_weight(
            name="word_embeddings", shape=(c.vocab_size, c.hidden_size), initializer=init)
        self.token_type_embeddings = self.add_weight(
            name="token_type_embeddings", shape=(c.type_vocab_size, c.hidden_size), initializer=init)
        self.position_embeddings = None
        if not c.use_relative_position:
            self.position_embeddings = self.add_weight(
                name="position_embeddings", shape=(c.max_position_embeddings, c.hidden_size),
                initializer=init)
        self.layer_norm.build((None, c.hidden_size))

    def call(self, input_ids, segment_ids, training=False):
        seq_length = tf.shape(input_ids)[1]
        flat_ids = tf.reshape(input_ids, [-1])
        flat_types = tf.reshape(segment_ids, [-1])
        words = tf.gather(self.word_embeddings, flat_ids)
        types = tf.gather(self.token_type_embeddings, flat_types)
        summed = words + types
        # For THOR only (a no-op otherwise): the lookups share each token's gradient, that of
        # the sum (the position rows are looked up once per sequence, in order).
        capture.embedding(self.word_embeddings, flat_ids, summed)
        capture.embedding(self.token_type_embeddings, flat_types, summed)
        if self.position_embeddings is None:
            return self.dropout(self.layer_norm(summed), training=training)
        positions = self.position_embeddings[:seq_length]
        capture.embedding(self.position_embeddings, None, summed)
        batch = tf.shape(input_ids)[0]
        out = tf.reshape(summed, [batch, seq_length, -1]) + positions
        out = tf.reshape(out, [-1, self.config.hidden_size])
        return self.dropout(self.layer_norm(out), training=training)

    def tf1_weights(self, scope):
        out = {f"{scope}/word_embeddings": self.word_embeddings,
               f"{scope}/token_type_embeddings": self.token_type_embeddings}
        if self.position_embeddings is not None:
            out[f"{scope}/position_embeddings"] = self.position_embeddings
        out.update(self.layer_norm.tf1_weights(f"{scope}/LayerNorm"))
        return out

    def rng_states(self, scope):
        return self.dropout.rng_states(f"{scope}/dropout")


class SelfAttention(keras.layers.Layer):
    """Multi-head self-attention with Google's additive mask (-10000 on padding).

    Given `relative` (R [seq, seq, head_size], NEZHA), score(i, j) = (q_i.k_j + q_i.R_ij) /
    sqrt(d) + mask and context_i = sum_j p_ij (v_j + R_ij), with p after dropout.
    """

    def __init__(self, config: BertConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        init = initializer(config)
        policy = self.dtype_policy
        self.query = Dense(config.hidden_size, kernel_initializer=init, name="query", dtype=policy)
        self.key = Dense(config.hidden_size, kernel_initializer=init, name="key", dtype=policy)
        self.value = Dense(config.hidden_size, kernel_initializer=init, name="value", dtype=policy)
        self.dropout = Dropout(config.attention_probs_dropout_prob, dtype=policy)

    def build(self, input_shape):
        for dense in (self.query, self.key, self.value):
            dense.build((None, self.config.hidden_size))

    def _heads(self, x, batch, seq):
        """[batch * seq, hidden] -> [batch, heads, seq, head_size]."""
        c = self.config
        x = tf.reshape(x, [batch, seq, c.num_attention_heads, c.head_size])
        return tf.transpose(x, [0, 2, 1, 3])

    fused = True

    def call(self, x, mask_adder, batch, seq, training=False, relative=None):
        if self.fused:
            # One [hidden, 3 * hidden] matmul instead of three: better use of the CPU's cores.
            kernels = [self.query.kernel, self.key.kernel, self.value.kernel]
            kernel = tf.concat(kernels, axis=1)
            bias = tf.concat([self.query.bias, self.key.bias, self.value.bias], axis=0)
            qkv = capture.dense(kernels, x, tf.matmul(x, kernel)) + bias
            c = self.config
            qkv = tf.reshape(qkv, [batch, seq, 3, c.num_attention_heads, c.head_size])
            qkv = tf.transpose(qkv, [2, 0, 3, 1, 4])
            q, k, v = qkv[0], qkv[1], qkv[2]
        else:
            q = self._heads(self.query(x), batch, seq)
            k = self._heads(self.key(x), batch, seq)
            v = self._heads(self.value(x), batch, seq)
        scores = tf.matmul(q, k, transpose_b=True)
        if relative is not None:
            relative = tf.cast(relative, x.dtype)
            scores = (tf.cast(scores, tf.float32)
                      + tf.cast(self._relative_scores(q, relative, batch, seq), tf.float32))
        scale = 1.0 / math.sqrt(self.config.head_size)
        scores = tf.cast(scores, tf.float32) * scale + tf.cast(mask_adder, tf.float32)
        probs = tf.cast(tf.nn.softmax(scores), x.dtype)
        probs = self.dropout(probs, training=training)
        context = tf.transpose(tf.matmul(probs, v), [0, 2, 1, 3])
        if relative is not None:
            context += self._relative_context(probs, relative, batch, seq)
        return tf.reshape(context, [-1, self.config.hidden_size])

    def _relative_scores(self, q, relative, batch, seq):
        """q_i.R_ij for every head: [batch, heads, seq, seq], as one matmul batched over i."""
        heads, size = self.config.num_attention_heads, self.config.head_size
        q_by_position = tf.reshape(tf.transpose(q, [2, 0, 1, 3]), [seq, batch * heads, size])
        scores = tf.matmul(q_by_position, relative, transpose_b=True)  # [seq_i, b*h, seq_j]
        return tf.transpose(tf.reshape(scores, [seq, batch, heads, seq]), [1, 2, 0, 3])

    def _relative_context(self, probs, relative, batch, seq):
        """sum_j p_ij R_ij for every head, as [batch, seq, heads, head_size]."""
        heads, size = self.config.num_attention_heads, self.config.head_size
        p_by_position = tf.reshape(tf.transpose(probs, [2, 0, 1, 3]), [seq, batch * heads, seq])
        context = tf.matmul(p_by_position, relative)  # [seq_i, b*h, size]
        return tf.transpose(tf.reshape(context, [seq, batch, heads, size]), [1, 0, 2, 3])

    def tf1_weights(self, scope):
        out = {}
        for dense in (self.query, self.key, self.value):
            out.update(dense.tf1_weights(f"{scope}/{dense.name}"))
        return out

    def rng_states(self, scope):
        return self.dropout.rng_states(f"{scope}/dropout")


class TransformerBlock(keras.layers.Layer):
    """Google's post-LayerNorm transformer layer."""

    def __init__(self, config: BertConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        init = initializer(config)
        policy = self.dtype_policy
        self.attention = SelfAttention(config, name="self", dtype=policy)
        self.attention_output = Dense(config.hidden_size, kernel_initializer=init,
                                      name="attention_output", dtype=policy)
        self.attention_norm = LayerNorm(config.layer_norm_eps, name="attention_norm", dtype=policy)
        self.intermediate = Dense(config.intermediate_size, activation=config.hidden_act,
                                  kernel_initializer=init, name="intermediate", dtype=policy)
        self.output_dense = Dense(config.hidden_size, kernel_initializer=init, name="output",
                                  dtype=policy)
        self.output_norm = LayerNorm(config.layer_norm_eps, name="output_norm", dtype=policy)
        self.dropout = Dropout(config.hidden_dropout_prob, dtype=self.dtype_policy)

    def build(self, input_shape):
        c = self.config
        self.attention.build(input_shape)
        self.attention_output.build((None, c.hidden_size))
        self.attention_norm.build((None, c.hidden_size))
        self.intermediate.build((None, c.hidden_size))
        self.output_dense.build((None, c.intermediate_size))
        self.output_norm.build((None, c.hidden_size))

    def call(self, x, mask_adder, batch, seq, training=False, relative=None):
        context = self.attention(x, mask_adder, batch, seq, training=training, relative=relative)
        attended = self.dropout(self.attention_output(context), training=training)
        attended = self.attention_norm(attended + x)
        out = self.dropout(self.output_dense(self.intermediate(attended)), training=training)
        return self.output_norm(out + attended)

    def tf1_weights(self, scope):
        out = self.attention.tf1_weights(f"{scope}/attention/self")
        out.update(self.attention_output.tf1_weights(f"{scope}/attention/output/dense"))
        out.update(self.attention_norm.tf1_weights(f"{scope}/attention/output/LayerNorm"))
        out.update(self.intermediate.tf1_weights(f"{scope}/intermediate/dense"))
        out.update(self.output_dense.tf1_weights(f"{scope}/output/dense"))
        out.update(self.output_norm.tf1_weights(f"{scope}/output/LayerNorm"))
        return out

    def rng_states(self, scope):
        out = self.attention.rng_states(f"{scope}/attention/self")
        out.update(self.dropout.rng_states(f"{scope}/output/dropout"))
        return out


def attention_mask_adder(input_mask, dtype=tf.float32):
    """[batch, seq] 1/0 mask -> [batch, 1, 1, seq] additive mask: 0 to keep, -10000 to drop."""
    mask = tf.cast(input_mask, dtype)[:, tf.newaxis, tf.newaxis, :]
    return (1.0 - mask) * -10000.0


# ---------------------------------------------------------------------- the encoder
class BertEncoder(keras.layers.Layer):
    """BERT: embeddings, `num_hidden_layers` transformer blocks, pooler.

    `call(input_ids, input_mask, segment_ids)` returns a dict with `sequence_output`
    [batch, seq, hidden], `pooled_output` [batch, hidden], and, when `output_all_layers`,
    `all_layers` (every block's output, [batch, seq, hidden] each) and `embedding_output`.
    """

    def __init__(self, config: BertConfig, **kwargs):
        kwargs.setdefault("name", "bert")
        super().__init__(**kwargs)
        self.config = config
        policy = self.dtype_policy
        self.embeddings = Embeddings(config, name="embeddings", dtype=policy)
        self.blocks = [TransformerBlock(config, name=f"layer_{i}", dtype=policy)
                       for i in range(config.num_hidden_layers)]
        self.pooler = Dense(config.hidden_size, activation="tanh",
                            kernel_initializer=initializer(config), name="pooler", dtype=policy)

    def build(self, input_shape=None):
        hidden = self.config.hidden_size
        self.embeddings.build(None)
        for block in self.blocks:
            block.build((None, hidden))
        self.pooler.build((None, hidden))

    def call(self, input_ids, input_mask=None, segment_ids=None, training=False,
             output_all_layers=False):
        input_ids = tf.convert_to_tensor(input_ids)
        if input_mask is None:
            input_mask = tf.ones_like(input_ids)
        if segment_ids is None:
            segment_ids = tf.zeros_like(input_ids)
        batch, seq = tf.shape(input_ids)[0], tf.shape(input_ids)[1]
        hidden_shape = [batch, seq, self.config.hidden_size]
        x = self.embeddings(input_ids, segment_ids, training=training)
        mask_adder = attention_mask_adder(input_mask)
        relative = None
        if self.config.use_relative_position:  # once per forward pass, shared by every layer
            relative = relative_position_encoding(seq, self.config.max_relative_position,
                                                  self.config.head_size, self.compute_dtype)
        layers = []
        for block in self.blocks:
            x = block(x, mask_adder, batch, seq, training=training, relative=relative)
            if output_all_layers:
                layers.append(tf.reshape(x, hidden_shape))
        sequence_output = tf.reshape(x, hidden_shape)
        pooled_output = self.pooler(sequence_output[:, 0, :])
        out = {"sequence_output": sequence_output, "pooled_output": pooled_output}
        if output_all_layers:
            out["all_layers"] = layers
        return out

    @property
    def word_embeddings(self):
        return self.embeddings.word_embeddings

    def tf1_weights(self, scope="bert"):
        out = self.embeddings.tf1_weights(f"{scope}/embeddings")
        for i, block in enumerate(self.blocks):
            out.update(block.tf1_weights(f"{scope}/encoder/layer_{i}"))
        out.update(self.pooler.tf1_weights(f"{scope}/pooler/dense"))
        return out

    def rng_states(self, scope="bert"):
        """The dropout generators' state variables by a Google-style name: what a checkpoint
        must hold for a resumed run to draw the masks an uninterrupted one would."""
        out = self.embeddings.rng_states(f"{scope}/embeddings")
        for i, block in enumerate(self.blocks):
            out.update(block.rng_states(f"{scope}/encoder/layer_{i}"))
        return out
