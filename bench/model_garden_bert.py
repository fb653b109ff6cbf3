"""Peer for bench_model.py: TF Model Garden's BERT pretraining step (run in .venv-modelgarden).

  python model_garden_bert.py SIZE BATCH SEQ PREDICTIONS STEPS

tf-models-official's own pieces, as its BERT pretraining recipe puts them together: the
`bert` encoder of `official.nlp.configs.encoders` (Google's sizes, gelu, dropout 0.1),
`BertPretrainerV2` with the next-sentence head of `MaskedLMTask`, the task's loss, and its
optimizer `AdamWeightDecay` (official.modeling.optimization.legacy_adamw: weight decay 0.01
off LayerNorm and biases, epsilon 1e-6, gradients clipped to norm 1.0). One training step
(forward, backward, update) is timed in both of Model Garden's modes, a `tf.function` with
and without XLA (`jit_compile`), with oneDNN on (TF_ENABLE_ONEDNN_OPTS=1, set here before
TensorFlow loads); the faster one is the peer's figure.

The process stays up between rounds: each line "measure" on stdin times STEPS steps per
round, best of 3, in each mode, and answers one JSON line; "quit" (or end of input) ends it.
So bench_model.py alternates its own rounds with this one's without rebuilding either.
"""

import os

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402
from official.modeling.optimization import legacy_adamw  # noqa: E402
from official.nlp.configs import encoders  # noqa: E402
from official.nlp.modeling import layers, models  # noqa: E402
from official.nlp.tasks.masked_lm import MaskedLMTask  # noqa: E402

SIZES = {"base": (768, 12, 12, 3072), "minilm_l6": (384, 6, 12, 1536)}


def build(size):
    hidden, num_layers, heads, inter = SIZES[size]
    encoder = encoders.build_encoder(encoders.EncoderConfig(type="bert", bert=encoders.BertEncoderConfig(
        vocab_size=30522, hidden_size=hidden, num_layers=num_layers, num_attention_heads=heads,
        intermediate_size=inter)))
    head = layers.ClassificationHead(inner_dim=hidden, num_classes=2, dropout_rate=0.1,
                                     name="next_sentence")
    return models.BertPretrainerV2(encoder_network=encoder, classification_heads=[head],
                                   mlm_activation=tf_keras.activations.gelu,
                                   mlm_initializer=tf_keras.initializers.TruncatedNormal(stddev=0.02))


def data(batch, seq, predictions):
    rng = np.random.default_rng(0)
    inputs = {"input_word_ids": tf.constant(rng.integers(0, 30522, [batch, seq]), tf.int32),
              "input_mask": tf.ones([batch, seq], tf.int32),
              "input_type_ids": tf.constant(np.repeat([[0] * (seq // 2) + [1] * (seq - seq // 2)], batch, 0),
                                            tf.int32),
              "masked_lm_positions": tf.constant(rng.integers(1, seq, [batch, predictions]), tf.int32)}
    labels = {"masked_lm_ids": tf.constant(rng.integers(0, 30522, [batch, predictions]), tf.int32),
              "masked_lm_weights": tf.ones([batch, predictions]),
              "next_sentence_labels": tf.zeros([batch], tf.int32)}
    return inputs, labels


def train_steps(model, inputs, labels):
    """{mode: step function}: Model Garden's train step, in graph mode and XLA-compiled."""
    task = MaskedLMTask(None)
    metrics = [tf_keras.metrics.Mean(name="lm_example_loss"), tf_keras.metrics.Mean(name="next_sentence_loss")]
    optimizer = legacy_adamw.AdamWeightDecay(1e-4, weight_decay_rate=0.01, epsilon=1e-6,
                                             exclude_from_weight_decay=["LayerNorm", "layer_norm", "bias"],
                                             gradient_clip_norm=1.0)

    def step():
        with tf.GradientTape() as tape:
            outputs = model(inputs, training=True)
            loss = task.build_losses(labels, outputs, metrics)
        variables = model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    return {"xla": tf.function(step, jit_compile=True), "graph": tf.function(step)}


def seq_per_s(fn, batch, steps, rounds=3):
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(steps):
            loss = fn()
        loss.numpy()
        best = max(best, batch * steps / (time.perf_counter() - start))
    return best


def main(size, batch, seq, predictions, steps):
    model = build(size)
    inputs, labels = data(batch, seq, predictions)
    modes = train_steps(model, inputs, labels)
    for fn in modes.values():  # trace and compile before the first round
        fn().numpy()
    print(json.dumps({"ready": True, "tf": tf.__version__}), flush=True)
    for line in sys.stdin:
        if line.strip() != "measure":
            break
        result = {mode: seq_per_s(fn, batch, steps) for mode, fn in modes.items()}
        best = max(result, key=result.get)
        print(json.dumps(dict(result, peer=f"Model Garden (TF {tf.__version__})", train=result[best],
                              mode=best)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], *map(int, sys.argv[2:6]))
