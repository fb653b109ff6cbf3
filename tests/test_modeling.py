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


# ---------------------------------------------------------------------- NEZHA
def _nezha(**overrides):
    fields = dict(vocab_size=100, use_relative_position=True, max_relative_position=3,
                  num_attention_heads=4, num_hidden_layers=2, max_position_embeddings=16)
    return preset("micro", **{**fields, **overrides})


def _numpy_nezha(model, features, config):
    import numpy_bert
    from bert_tf.checkpoints import model_tf1_arrays
    return numpy_bert.forward(model_tf1_arrays(model), features["input_ids"], features["input_mask"],
                              features["segment_ids"], config.num_hidden_layers,
                              config.num_attention_heads, max_relative_position=config.max_relative_position)


def test_relative_position_encoding_is_the_clipped_sinusoid_of_the_formulas():
    import numpy_bert
    got = modeling.relative_position_encoding(11, 3, 8).numpy()
    np.testing.assert_allclose(got, numpy_bert.relative_positions(11, 3, 8), atol=1e-6)
    # clipping: every pair further apart than K shares the row of distance K
    np.testing.assert_array_equal(got[0, 3], got[0, 10])
    np.testing.assert_array_equal(got[10, 7], got[10, 0])
    assert np.abs(got[0, 2] - got[0, 3]).max() > 0.1


def test_nezha_has_no_position_table_and_no_relative_variable():
    bert = BertModel(_nezha(use_relative_position=False)).build_for()
    nezha = BertModel(_nezha()).build_for()
    assert set(bert.tf1_weights()) - set(nezha.tf1_weights()) == {"bert/embeddings/position_embeddings"}
    assert len(nezha.weights) == len(bert.weights) - 1  # the sinusoid is a constant, not a variable


@pytest.mark.parametrize("seq", [12, 40])  # 40: beyond max_position_embeddings=16
def test_nezha_matches_numpy_reference_of_the_formulas(seq):
    config = _nezha()
    model = BertModel(config).build_for()
    features = _batch(seq=seq, pad=4)
    out = model(features)
    seq_ref, pooled_ref, layers_ref = _numpy_nezha(model, features, config)
    assert np.abs(out["sequence_output"].numpy() - seq_ref).max() < 1e-5
    assert np.abs(out["pooled_output"].numpy() - pooled_ref).max() < 1e-5
    for ours, ref in zip(out["all_layers"], layers_ref):
        assert np.abs(ours.numpy() - ref).max() < 1e-5
    # the relative terms matter: the same weights as BERT with a zero position table differ
    import numpy_bert
    from bert_tf.checkpoints import model_tf1_arrays
    zero = dict(model_tf1_arrays(model), **{"bert/embeddings/position_embeddings": np.zeros([seq, 32])})
    plain, _, _ = numpy_bert.forward(zero, features["input_ids"], features["input_mask"],
                                     features["segment_ids"], 2, 4)
    assert np.abs(plain - seq_ref).max() > 0.05


def test_nezha_under_xla_equals_eager_and_padding_does_not_leak():
    config = _nezha()
    model = BertModel(config).build_for()
    features = _batch(seq=12, pad=4)
    eager = model(features)["sequence_output"].numpy()
    xla = tf.function(lambda f: model(f)["sequence_output"], jit_compile=True)(features).numpy()
    assert np.abs(xla - eager).max() < 1e-5
    changed = dict(features, input_ids=features["input_ids"].copy())
    changed["input_ids"][:, -4:] = 57
    np.testing.assert_allclose(model(changed)["sequence_output"].numpy()[:, :8], eager[:, :8], atol=1e-5)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_nezha_mixed_precision_under_xla_tracks_float32(policy):
    config = _nezha()
    reference = BertModel(config).build_for()
    mixed = BertModel(config, dtype=policy).build_for()
    for name, variable in mixed.tf1_weights().items():
        assert variable.dtype == "float32", name
        variable.assign(reference.tf1_weights()[name])
    features = _batch(seq=24, pad=4)
    want = reference(features)["sequence_output"].numpy()
    got = tf.function(lambda f: mixed(f)["sequence_output"], jit_compile=True)(features)
    assert got.dtype == (tf.float16 if policy == "mixed_float16" else tf.bfloat16)
    tolerance = 0.02 if policy == "mixed_float16" else 0.1
    assert np.abs(got.numpy().astype(np.float32) - want).max() < tolerance


def test_nezha_trains_under_xla_with_dropout():
    config = _nezha()
    model = BertModel(config).build_for()
    features = _batch(seq=12, pad=4)
    a = model(features, training=False)["pooled_output"].numpy()
    b = model(features, training=True)["pooled_output"].numpy()
    assert np.abs(a - b).max() > 1e-4  # dropout on in training (probabilities and hidden)

    @tf.function(jit_compile=True)
    def grads(f):
        with tf.GradientTape() as tape:
            out = model(f, training=True)
            loss = tf.reduce_sum(out["sequence_output"] ** 2) + tf.reduce_sum(out["pooled_output"])
        return [tf.convert_to_tensor(g) for g in tape.gradient(loss, model.trainable_variables)]

    for variable, grad in zip(model.trainable_variables, grads(features)):
        assert np.isfinite(grad.numpy()).all() and np.abs(grad.numpy()).max() > 0, variable.path
