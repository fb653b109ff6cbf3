"""The encoder: activations, shapes, masking, initialization, mixed precision."""

import math

import numpy as np
import pytest
import tensorflow as tf

from bert_tf import modeling
from bert_tf.config import preset
from bert_tf.heads import BertModel


def test_gelu_is_googles_tanh_form_and_gelu_exact_the_erf_form():
    x = np.linspace(-6, 6, 101).astype(np.float64)
    tanh_form = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    erf_form = 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
    np.testing.assert_allclose(modeling.gelu(tf.constant(x)).numpy(), tanh_form, atol=1e-12)
    np.testing.assert_allclose(modeling.gelu_exact(tf.constant(x)).numpy(), erf_form, atol=1e-12)
    assert np.abs(tanh_form - erf_form).max() > 1e-4  # they really are different functions
    with pytest.raises(ValueError, match="unknown activation"):
        modeling.get_activation("gelu3")


def _batch(vocab=100, batch=2, seq=10, pad=3, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocab, [batch, seq]).astype(np.int32)
    mask = np.ones_like(ids)
    mask[:, seq - pad:] = 0
    ids[:, seq - pad:] = 0
    types = np.zeros_like(ids)
    types[:, seq // 2:] = 1
    return {"input_ids": ids, "input_mask": mask, "segment_ids": types}


def test_shapes_and_all_layers():
    config = preset("tiny", vocab_size=100)
    out = BertModel(config).build_for()(_batch(), training=False)
    assert out["sequence_output"].shape == (2, 10, 128)
    assert out["pooled_output"].shape == (2, 128)
    assert len(out["all_layers"]) == 2
    np.testing.assert_array_equal(out["all_layers"][-1].numpy(), out["sequence_output"].numpy())


def test_padding_does_not_change_real_token_outputs():
    config = preset("tiny", vocab_size=100)
    model = BertModel(config).build_for()
    features = _batch()
    first = model(features)["sequence_output"].numpy()
    changed = {k: v.copy() for k, v in features.items()}
    changed["input_ids"][:, -3:] = 57  # other ids where the mask is 0
    second = model(changed)["sequence_output"].numpy()
    np.testing.assert_allclose(first[:, :7], second[:, :7], atol=1e-5)


def test_dropout_only_in_training():
    model = BertModel(preset("tiny", vocab_size=100)).build_for()
    features = _batch()
    a = model(features, training=False)["pooled_output"].numpy()
    b = model(features, training=False)["pooled_output"].numpy()
    c = model(features, training=True)["pooled_output"].numpy()
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-4


def test_initialization_is_truncated_normal_with_initializer_range():
    config = preset("tiny", vocab_size=2000, initializer_range=0.05)
    weights = BertModel(config).build_for().tf1_weights()
    table = weights["bert/embeddings/word_embeddings"].numpy()
    assert abs(table.std() - 0.05 * 0.88) < 0.003  # std of a normal truncated at 2 sigma
    assert np.abs(table).max() <= 2 * 0.05 + 1e-6
    np.testing.assert_array_equal(weights["bert/encoder/layer_0/output/LayerNorm/gamma"].numpy(), 1)
    np.testing.assert_array_equal(weights["bert/encoder/layer_0/attention/self/query/bias"].numpy(), 0)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_keeps_float32_variables_and_tracks_float32(policy):
    config = preset("tiny", vocab_size=100)
    reference = BertModel(config).build_for()
    mixed = BertModel(config, dtype=policy).build_for()
    for name, variable in mixed.tf1_weights().items():
        assert variable.dtype == "float32", name
        variable.assign(reference.tf1_weights()[name])
    features = _batch()
    want = reference(features)["sequence_output"].numpy()
    got = mixed(features)["sequence_output"]
    assert got.dtype == (tf.float16 if policy == "mixed_float16" else tf.bfloat16)
    tolerance = 0.02 if policy == "mixed_float16" else 0.1
    assert np.abs(got.numpy().astype(np.float32) - want).max() < tolerance


def test_layer_norm_runs_in_float32_under_float16():
    norm = modeling.LayerNorm(1e-12, dtype="mixed_float16")
    x = tf.constant(np.random.default_rng(1).normal(300, 50, [4, 64]), tf.float16)
    y = norm(x)
    assert y.dtype == tf.float16 and norm.gamma.dtype == "float32"
    x32 = x.numpy().astype(np.float64)
    ref = (x32 - x32.mean(-1, keepdims=True)) / x32.std(-1, keepdims=True)
    assert np.abs(y.numpy().astype(np.float64) - ref).max() < 0.01


def test_hashed_dropout_keeps_one_minus_rate_and_is_deterministic_per_seed():
    shape = tf.constant([64, 1000])
    a = modeling.hashed_dropout_mask(shape, 0.1, tf.constant([5, 0])).numpy()
    b = modeling.hashed_dropout_mask(shape, 0.1, tf.constant([5, 0])).numpy()
    c = modeling.hashed_dropout_mask(shape, 0.1, tf.constant([5, 1])).numpy()
    np.testing.assert_array_equal(a, b)
    assert abs(a.mean() - 0.9) < 0.005 and abs(c.mean() - 0.9) < 0.005
    # masks of consecutive seeds are independent: P(both dropped) ~ 0.01
    assert abs((~a & ~c).mean() - 0.01) < 0.002
    # no structure along rows or columns
    assert np.abs(a.mean(0) - 0.9).max() < 0.2 and np.abs(a.mean(1) - 0.9).max() < 0.04
    assert modeling.hashed_dropout_mask(shape, 0.5, tf.constant([1, 2])).numpy().mean() == pytest.approx(0.5, abs=0.01)


def test_dropout_layer_preserves_the_mean_and_draws_new_masks_each_call():
    layer = modeling.Dropout(0.2, seed=3)
    x = tf.ones([200, 100])
    first, second = layer(x, training=True).numpy(), layer(x, training=True).numpy()
    assert set(np.unique(first)) == {0.0, np.float32(1 / 0.8)}
    assert abs(first.mean() - 1.0) < 0.02
    assert (first != second).any()
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x.numpy())
