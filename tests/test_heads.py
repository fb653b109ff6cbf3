"""Heads: tied MLM decoder, NSP/span/classifier/tagger shapes, Google's losses."""

import numpy as np
import tensorflow as tf

from bert_tf import heads
from bert_tf.config import preset


def _features(batch=2, seq=12, vocab=90):
    rng = np.random.default_rng(3)
    return {"input_ids": rng.integers(1, vocab, [batch, seq]).astype(np.int32),
            "input_mask": np.ones([batch, seq], np.int32),
            "segment_ids": np.zeros([batch, seq], np.int32),
            "masked_lm_positions": np.array([[1, 4, 0], [2, 3, 11]], np.int32)}


def test_mlm_decoder_is_tied_to_word_embeddings():
    model = heads.BertPretrainingModel(preset("tiny", vocab_size=90)).build_for()
    table = model.encoder.word_embeddings
    assert sum(v is table or v.path == table.path for v in model.trainable_variables) == 1
    features = _features()
    logits = model(features)["masked_lm_logits"]
    assert logits.shape == (6, 90) and logits.dtype == tf.float32
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(features)["masked_lm_logits"][:, 5])
    grad = tape.gradient(loss, table)
    assert grad is not None


def test_mlm_logits_equal_transform_times_table_plus_bias():
    model = heads.BertPretrainingModel(preset("tiny", vocab_size=90)).build_for()
    features = _features()
    seq = model.encoder(features["input_ids"], features["input_mask"], features["segment_ids"])["sequence_output"]
    gathered = tf.gather(tf.reshape(seq, [-1, 128]), [1, 4, 0, 14, 15, 23]).numpy()
    w = {n: v.numpy() for n, v in model.tf1_weights().items()}
    h = gathered @ w["cls/predictions/transform/dense/kernel"] + w["cls/predictions/transform/dense/bias"]
    h = 0.5 * h * (1 + np.tanh(np.sqrt(2 / np.pi) * (h + 0.044715 * h ** 3)))
    h = (h - h.mean(-1, keepdims=True)) / np.sqrt(h.var(-1, keepdims=True) + 1e-12)
    h = h * w["cls/predictions/transform/LayerNorm/gamma"] + w["cls/predictions/transform/LayerNorm/beta"]
    want = h @ w["bert/embeddings/word_embeddings"].T + w["cls/predictions/output_bias"]
    np.testing.assert_allclose(model(features)["masked_lm_logits"].numpy(), want, atol=1e-4)


def test_task_model_output_shapes():
    config = preset("tiny", vocab_size=90)
    f = _features()
    nsp = heads.BertPretrainingModel(config).build_for()(f)["next_sentence_logits"]
    assert nsp.shape == (2, 2)
    span = heads.BertSpanModel(config).build_for()(f)
    assert span["start_logits"].shape == (2, 12) and span["end_logits"].shape == (2, 12)
    assert heads.BertClassifierModel(config, 3).build_for()(f)["logits"].shape == (2, 3)
    assert heads.BertClassifierModel(config, 1).build_for()(f)["logits"].shape == (2, 1)
    assert heads.BertTaggerModel(config, 7).build_for()(f)["logits"].shape == (2, 12, 7)


def test_masked_lm_loss_is_googles_weighted_mean():
    logits = tf.constant(np.random.default_rng(0).normal(size=[4, 6]), tf.float32)
    ids = np.array([[1, 2], [3, 0]])
    weights = np.array([[1.0, 1.0], [1.0, 0.0]])
    log_probs = tf.nn.log_softmax(logits).numpy()
    per = -log_probs[np.arange(4), ids.reshape(-1)]
    want = (per * weights.reshape(-1)).sum() / (weights.sum() + 1e-5)
    assert abs(heads.masked_lm_loss(logits, ids, weights).numpy() - want) < 1e-6
    assert abs(heads.classification_loss(logits, [1, 2, 3, 0]).numpy() - per.mean()) < 1e-6


def test_mixed_precision_heads_return_float32():
    model = heads.BertPretrainingModel(preset("tiny", vocab_size=90), dtype="mixed_float16").build_for()
    out = model(_features())
    assert out["masked_lm_logits"].dtype == tf.float32
    assert out["next_sentence_logits"].dtype == tf.float32
