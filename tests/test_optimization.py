"""Schedule and optimizers against their formulas, computed independently in NumPy."""

import numpy as np
import pytest
import tensorflow as tf

from bert_tf import optimization
from bert_tf.errors import UserError


def test_schedule_is_linear_warmup_then_polynomial_decay_from_step_zero():
    c = optimization.OptimizerConfig(learning_rate=1e-3, num_train_steps=100, num_warmup_steps=10,
                                     end_learning_rate=1e-5, decay_power=2.0)
    for step in (0, 1, 5, 9, 10, 11, 50, 99, 100, 150):
        got = float(optimization.learning_rate(step, c))
        if step < 10:
            want = 1e-3 * step / 10
        else:
            want = (1e-3 - 1e-5) * (1 - min(step, 100) / 100) ** 2 + 1e-5
        assert got == pytest.approx(want, rel=1e-5, abs=1e-9), step
    no_warmup = optimization.OptimizerConfig(learning_rate=2.0, num_train_steps=4)
    assert [float(optimization.learning_rate(s, no_warmup)) for s in range(5)] == pytest.approx([2, 1.5, 1, 0.5, 0])


def _run(optimizer_type, steps=3, **kw):
    rng = np.random.default_rng(0)
    init = {"bert/encoder/layer_0/output/dense/kernel": rng.normal(size=[3, 4]).astype(np.float32),
            # above PACK_LIMIT: its own slots, beside the packed buffer of the others
            "bert/encoder/layer_0/intermediate/dense/kernel": rng.normal(size=[300, 256]).astype(np.float32),
            "bert/encoder/layer_0/output/dense/bias": rng.normal(size=[4]).astype(np.float32),
            "bert/embeddings/LayerNorm/gamma": rng.normal(size=[4]).astype(np.float32)}
    grads = [{n: rng.normal(size=v.shape).astype(np.float32) for n, v in init.items()} for _ in range(steps)]
    variables = {n: tf.Variable(v) for n, v in init.items()}
    config = optimization.OptimizerConfig(optimizer_type=optimizer_type, weight_decay_rate=0.1,
                                          epsilon=1e-6, **kw)
    opt = optimization.create_optimizer(variables, config)
    for step, g in enumerate(grads):
        opt.apply(opt.pack([tf.constant(g[n]) for n in opt.names]), tf.constant(0.01), tf.constant(step))
    return init, grads, {n: v.numpy() for n, v in variables.items()}


def _numpy_reference(init, grads, lamb, bias_correction, wd=0.1, lr=0.01, b1=0.9, b2=0.999, eps=1e-6):
    w = {n: v.astype(np.float64) for n, v in init.items()}
    m = {n: np.zeros_like(v) for n, v in w.items()}
    v2 = {n: np.zeros_like(v) for n, v in w.items()}
    for t, g in enumerate(grads, start=1):
        for n in w:
            m[n] = b1 * m[n] + (1 - b1) * g[n]
            v2[n] = b2 * v2[n] + (1 - b2) * g[n] ** 2
            mh, vh = (m[n] / (1 - b1 ** t), v2[n] / (1 - b2 ** t)) if bias_correction else (m[n], v2[n])
            update = mh / (np.sqrt(vh) + eps)
            excluded = "LayerNorm" in n or "bias" in n
            if not excluded:
                update = update + wd * w[n]
            ratio = 1.0
            if lamb and not excluded:
                ratio = np.linalg.norm(w[n]) / np.linalg.norm(update)
            w[n] = w[n] - lr * ratio * update
    return w


@pytest.mark.parametrize("kind,bias_correction", [("adamw", False), ("lamb", True)])
def test_optimizer_steps_equal_numpy_reference(kind, bias_correction):
    init, grads, got = _run(kind)
    want = _numpy_reference(init, grads, lamb=kind == "lamb", bias_correction=bias_correction)
    for name in init:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-6)


def test_adamw_with_bias_correction_on_request():
    init, grads, got = _run("adamw", bias_correction=True)
    want = _numpy_reference(init, grads, lamb=False, bias_correction=True)
    for name in init:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-6)


def test_small_variables_share_one_buffer_in_name_order_and_large_ones_keep_their_own():
    variables = {"a/kernel": tf.Variable(tf.zeros([2, 2])), "big/kernel": tf.Variable(tf.zeros([300, 256])),
                 "b/bias": tf.Variable(tf.zeros([1]))}
    opt = optimization.create_optimizer(variables, optimization.OptimizerConfig())
    big = tf.ones([300, 256])
    packed = opt.pack([tf.constant([[1.0, 2.0], [3.0, 4.0]]), big, tf.constant([5.0])])
    assert len(packed) == 2 and packed[1] is big
    np.testing.assert_array_equal(packed[0].numpy(), [1, 2, 3, 4, 5])
    assert [s.shape for s in opt.slots()] == [[5], [5], [300, 256], [300, 256]]


def test_clip_by_global_norm():
    grads = [tf.constant([3.0, 0.0]), tf.constant([[0.0, 4.0]])]
    clipped, norm = optimization.clip_by_global_norm(grads, 1.0)
    assert float(norm) == pytest.approx(5.0)
    np.testing.assert_allclose(clipped[1].numpy(), [[0.0, 0.8]], rtol=1e-6)
    small, _ = optimization.clip_by_global_norm([g / 10.0 for g in grads], 1.0)  # under: unchanged
    np.testing.assert_allclose(small[0].numpy(), [0.3, 0.0], rtol=1e-6)
    unclipped, _ = optimization.clip_by_global_norm(grads, 0)
    np.testing.assert_array_equal(unclipped[0].numpy(), [3.0, 0.0])
    overflowed, norm = optimization.clip_by_global_norm([tf.constant([np.inf, 1.0])], 1.0)
    assert not np.isfinite(float(norm)) and not np.isfinite(overflowed[0].numpy()).all()


def test_optimizer_refuses_non_float32_weights():
    with pytest.raises(ValueError, match="float32"):
        optimization.create_optimizer({"w": tf.Variable(tf.zeros([2], tf.float16))},
                                      optimization.OptimizerConfig())


def test_bad_optimizer_settings():
    with pytest.raises(UserError, match="--optimizer_type=sgd"):
        optimization.OptimizerConfig(optimizer_type="sgd").validate()
    with pytest.raises(UserError, match="--num_train_steps=0"):
        optimization.OptimizerConfig(num_train_steps=0).validate()


def _optimizer_and_grads(kind, seed=0):
    rng = np.random.default_rng(seed)
    shapes = {"bert/encoder/layer_0/output/dense/kernel": [3, 4],
              "bert/encoder/layer_0/intermediate/dense/kernel": [300, 256],  # its own slots
              "bert/encoder/layer_0/output/dense/bias": [4]}
    variables = {n: tf.Variable(rng.normal(size=s).astype(np.float32)) for n, s in shapes.items()}
    opt = optimization.create_optimizer(variables, optimization.OptimizerConfig(optimizer_type=kind))
    grads = opt.pack([tf.constant(rng.normal(size=s).astype(np.float32)) for s in shapes.values()])
    return opt, variables, grads


def _state(opt, variables):
    return [v.numpy() for v in list(variables.values()) + opt.slots()]


@pytest.mark.parametrize("kind", ["adamw", "lamb"])
@pytest.mark.parametrize("jit", [False, True])
def test_a_step_gated_by_finite_equals_the_plain_step_and_a_skipped_one_changes_nothing(kind, jit):
    """The runner gates the update inside the optimizer (so XLA updates the slots in place):
    with finite gradients the result is the plain update's to the bit; without, nothing moves."""
    plain, plain_vars, grads = _optimizer_and_grads(kind)
    gated, gated_vars, _ = _optimizer_and_grads(kind)
    for step in range(3):
        tf.function(lambda s=step: plain.apply(grads, 0.01, tf.constant(s, tf.int64)), jit_compile=jit)()
        tf.function(lambda s=step: gated.apply(grads, 0.01, tf.constant(s, tf.int64), tf.constant(True)),
                    jit_compile=jit)()
    for want, got in zip(_state(plain, plain_vars), _state(gated, gated_vars)):
        np.testing.assert_array_equal(got, want)
    before = _state(gated, gated_vars)
    poisoned = [g * np.nan for g in grads]
    tf.function(lambda: gated.apply(poisoned, 0.01, tf.constant(3, tf.int64), tf.constant(False)),
                jit_compile=jit)()
    for want, got in zip(before, _state(gated, gated_vars)):
        np.testing.assert_array_equal(got, want)


def test_the_compiled_gated_update_copies_no_adam_slot():
    """XLA copied every Adam slot each step while the update sat in a tf.cond (BERT-base:
    880 MB a step); gated inside, the slots are updated in place."""
    opt, _, grads = _optimizer_and_grads("adamw")
    finite = tf.constant(True)

    def in_a_cond(step):
        def apply():
            opt.apply(grads, 0.01, step)
            return tf.constant(True)
        return tf.cond(finite, apply, lambda: tf.constant(False))

    def gated(step):
        opt.apply(grads, 0.01, step, finite)
        return finite

    step = tf.constant(0, tf.int64)
    copies = {}
    for name, fn in (("cond", in_a_cond), ("gated", gated)):
        hlo = tf.function(fn, jit_compile=True).experimental_get_compiler_ir(step)(stage="optimized_hlo")
        copies[name] = hlo.count("f32[300,256]{1,0} copy(")
    assert copies == {"cond": 2, "gated": 0}


def test_compiled_global_norm_is_tensorflows_norm():
    """The blocked form XLA runs faster gives tf.linalg.global_norm's norm: tensors above the
    block threshold (a multiple of the blocks, and not), small ones, and a non-finite one."""
    rng = np.random.default_rng(0)
    shapes = [[300, 256], [optimization.BLOCKED_NORM_MIN + 1], [768], [2], [40, 3072]]
    grads = [tf.constant(rng.normal(0, 1e-2, s).astype(np.float32)) for s in shapes]
    compiled = tf.function(lambda g: optimization.global_norm(g, compiled=True), jit_compile=True)
    np.testing.assert_allclose(float(compiled(grads)), float(tf.linalg.global_norm(grads)), rtol=1e-6)
    np.testing.assert_allclose(float(compiled(grads + [None])), float(tf.linalg.global_norm(grads)), rtol=1e-6)
    grads[0] = tf.tensor_scatter_nd_update(grads[0], [[3, 5]], [np.inf])
    assert not np.isfinite(float(compiled(grads)))
