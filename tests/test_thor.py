"""THOR against a float64 NumPy reference written from the formulas (bert_tf/thor.py's
docstring): factors, damping, block-diagonal inverses with a remainder block, both kernel
layouts, the two-output rule, LayerNorm, weight decay, per-tensor clipping, momentum and the
schedules; factor steps every `frequency` steps, the others reusing the stored inverses."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from bert_tf import capture, optimization, thor
from bert_tf.config import preset
from bert_tf.distribute.local import LocalStrategy
from bert_tf.errors import UserError
from bert_tf.estimator import TRAIN, Estimator, EstimatorSpec, RunConfig
from bert_tf.estimator.estimator import TrainParams
from bert_tf.heads import OutputProjection, classification_loss
from bert_tf.modeling import Dense, LayerNorm

V, E, H, B, T, EPS = 6, 5, 7, 4, 3, 1e-3
SPLIT = 3  # divides none of 5 and 7: every factor but the 3-wide one has a remainder block
SETTINGS = dict(lr=0.1, lr_end=0.01, lr_power=2.0, steps=10, damping=0.05, damping_end=0.001,
                damping_power=4.0, momentum=0.9, wd=0.01, clip=1.0, frequency=2)


class Table(keras.layers.Layer):
    """A bare embedding lookup that reports to THOR as bert_tf's Embeddings does."""

    def build(self, input_shape):
        self.table = self.add_weight(name="table", shape=(V, E), initializer="random_normal")

    def call(self, ids):
        flat = tf.reshape(ids, [-1])
        rows = tf.gather(self.table, flat)
        capture.embedding(self.table, flat, rows)
        return rows


class SmallModel(keras.Model):
    """ids -> lookup -> Dense(tanh) -> LayerNorm -> a 3-way head per row ([out, in] layout) and
    a 2-way head on each sequence's first row (the NSP shape: G⁻¹ = I)."""

    def __init__(self):
        super().__init__()
        config = preset("micro", hidden_size=H, num_attention_heads=1, initializer_range=0.5)
        self.lookup = Table()
        self.dense = Dense(H, activation="tanh", kernel_initializer="random_normal")
        self.norm = LayerNorm(EPS)
        self.head = OutputProjection(config, 3)
        self.nsp = OutputProjection(config, 2)

    def call(self, features, training=False):
        y = self.norm(self.dense(self.lookup(features["ids"])))
        first = tf.reshape(y, [-1, T, H])[:, 0]
        return self.head(y), self.nsp(first)

    def tf1_weights(self):
        return {"emb/word_embeddings": self.lookup.table, "dense/kernel": self.dense.kernel,
                "dense/bias": self.dense.bias, "LayerNorm/gamma": self.norm.gamma,
                "LayerNorm/beta": self.norm.beta, "head/output_weights": self.head.output_weights,
                "head/output_bias": self.head.output_bias, "nsp/output_weights": self.nsp.output_weights,
                "nsp/output_bias": self.nsp.output_bias}

    def rng_states(self):
        return {}


class SmallTask:
    def create_model(self, params):
        model = SmallModel()
        model({"ids": tf.zeros([B, T], tf.int32)})
        rng = np.random.default_rng(7)  # non-zero biases and LayerNorm weights too
        for variable in model.tf1_weights().values():
            variable.assign(rng.normal(0, 0.5, variable.shape).astype(np.float32))
        return model

    def model_fn(self, model, features, mode, params):
        rows, first = model(features, training=mode == TRAIN)
        loss = classification_loss(rows, features["labels"]) + classification_loss(first, features["nsp"])
        return EstimatorSpec(loss=loss, logs={})


def batches(count):
    rng = np.random.default_rng(3)
    return [{"ids": rng.integers(0, V - 1, [B, T]).astype(np.int32),  # the last row never occurs
             "labels": rng.integers(0, 3, [B, T]).astype(np.int32),
             "nsp": rng.integers(0, 2, [B]).astype(np.int32)} for _ in range(count)]


def thor_params(s=SETTINGS, batch=B, split=SPLIT, average="inverses"):
    config = thor.ThorConfig(frequency=s["frequency"], damping=s["damping"], damping_end=s["damping_end"],
                             damping_power=s["damping_power"], split_dim=split, momentum=s["momentum"],
                             clip_norm=s["clip"], average=average, global_batch_size=batch)
    optimizer = optimization.OptimizerConfig(
        optimizer_type="thor", learning_rate=s["lr"], end_learning_rate=s["lr_end"],
        decay_power=s["lr_power"], num_train_steps=s["steps"], num_warmup_steps=0,
        weight_decay_rate=s["wd"], clip_norm=0.0, thor=config)
    return {"global_batch_size": batch, "train": TrainParams(optimizer)}


def train_small(tmp_path, data, steps, ipl, jit=False, sink=True):
    est = Estimator(SmallTask(), RunConfig(str(tmp_path), iterations_per_loop=ipl, save_checkpoints_steps=100),
                    thor_params(), LocalStrategy("cpu", jit_compile=jit))
    init = {n: v.numpy().astype(np.float64) for n, v in est.named_variables.items()}
    if not sink:
        est._steps_sink = lambda element_spec: False

    def input_fn(params, ctx):
        stacked = {k: np.stack([d[k] for d in data]) for k in data[0]}
        return tf.data.Dataset.from_tensor_slices(stacked)

    est.train(input_fn, steps)
    return init, {n: v.numpy() for n, v in est.named_variables.items()}, est


# ---------------------------------------------------------------------- NumPy reference
def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def forward_backward(w, batch):
    """The model's gradients and THOR's X / dZ, by hand."""
    flat = batch["ids"].reshape(-1)
    n = len(flat)
    e = w["emb/word_embeddings"][flat]
    z1 = e @ w["dense/kernel"]
    h = np.tanh(z1 + w["dense/bias"])
    mu, var = h.mean(-1, keepdims=True), h.var(-1, keepdims=True)
    xhat = (h - mu) / np.sqrt(var + EPS)
    y = xhat * w["LayerNorm/gamma"] + w["LayerNorm/beta"]
    first = y.reshape(B, T, H)[:, 0]
    logits = y @ w["head/output_weights"].T + w["head/output_bias"]
    nsp_logits = first @ w["nsp/output_weights"].T + w["nsp/output_bias"]
    dz2 = (softmax(logits) - np.eye(3)[batch["labels"].reshape(-1)]) / n
    dz3 = (softmax(nsp_logits) - np.eye(2)[batch["nsp"]]) / B
    dy = dz2 @ w["head/output_weights"]
    dy.reshape(B, T, H)[:, 0] += dz3 @ w["nsp/output_weights"]
    dxhat = dy * w["LayerNorm/gamma"]
    dh = (dxhat - dxhat.mean(-1, keepdims=True) - xhat * (dxhat * xhat).mean(-1, keepdims=True)) / np.sqrt(var + EPS)
    dz1 = dh * (1 - h * h)
    de = dz1 @ w["dense/kernel"].T
    table = np.zeros_like(w["emb/word_embeddings"])
    np.add.at(table, flat, de)
    grads = {"emb/word_embeddings": table, "dense/kernel": e.T @ dz1, "dense/bias": dz1.sum(0),
             "LayerNorm/gamma": (dy * xhat).sum(0), "LayerNorm/beta": dy.sum(0),
             "head/output_weights": dz2.T @ y, "head/output_bias": dz2.sum(0),
             "nsp/output_weights": dz3.T @ first, "nsp/output_bias": dz3.sum(0)}
    counts = np.bincount(flat, minlength=V).astype(np.float64)
    factors = {  # name: (A, G or None), A of a table its diagonal
        "emb/word_embeddings": (counts / B, B * B * de.T @ de / n),
        "dense/kernel": (e.T @ e / n, B * B * dz1.T @ dz1 / n),
        "head/output_weights": (y.T @ y / n, B * B * dz2.T @ dz2 / n),
        "nsp/output_weights": (first.T @ first / B, None),
    }
    return grads, factors


def block_diagonal_inverse(m, shift, split=SPLIT):
    """(blockdiag(m) + shift·I)⁻¹ with `split`-wide diagonal blocks, the last one smaller."""
    out = np.zeros_like(m)
    for start in range(0, len(m), split):
        block = slice(start, min(start + split, len(m)))
        out[block, block] = np.linalg.inv(m[block, block] + shift * np.eye(block.stop - block.start))
    return out


def poly(k, start, end, power, total):
    return (start - end) * (1 - min(k, total) / total) ** power + end


def numpy_thor(w, data, s=SETTINGS):
    """THOR's steps in float64; returns the weights and, per step, which tensors were clipped."""
    w = {n: v.copy() for n, v in w.items()}
    velocity = {n: np.zeros_like(v) for n, v in w.items()}
    inverses, clipped = {}, []
    for k, batch in enumerate(data):
        grads, factors = forward_backward(w, batch)
        shift = np.sqrt(poly(k, s["damping"], s["damping_end"], s["damping_power"], s["steps"]))
        if k % s["frequency"] == 0:
            inverses = {n: (1 / (a + shift) if a.ndim == 1 else block_diagonal_inverse(a, shift),
                            None if g is None else block_diagonal_inverse(g, shift))
                        for n, (a, g) in factors.items()}
        lr = poly(k, s["lr"], s["lr_end"], s["lr_power"], s["steps"])
        clipped.append(set())
        for n, g in grads.items():
            if n in inverses:
                a_inv, g_inv = inverses[n]
                if n == "emb/word_embeddings":
                    g = (a_inv[:, None] * g) @ g_inv
                elif n == "dense/kernel":  # Keras [in, out]
                    g = a_inv @ g @ g_inv
                else:  # [out, in]; the two-output layer has no G
                    g = (g_inv @ g if g_inv is not None else g) @ a_inv
            elif "LayerNorm" in n:
                g = g / (g * g / B + shift)
            if "LayerNorm" not in n and "bias" not in n:
                g = g + s["wd"] * w[n]
            norm = np.linalg.norm(g)
            if norm > s["clip"]:
                g = g * s["clip"] / norm
                clipped[-1].add(n)
            velocity[n] = s["momentum"] * velocity[n] + g
            w[n] = w[n] - lr * velocity[n]
    return w, clipped


# ---------------------------------------------------------------------- tests
@pytest.mark.parametrize("jit,sink,ipl", [(False, True, 3), (True, False, 2)])
def test_three_thor_steps_equal_the_numpy_reference(tmp_path, jit, sink, ipl):
    """Steps 0 and 2 are factor steps (frequency 2); step 1 reuses step 0's inverses, which
    the reference does too: recomputing them at step 1 would not match."""
    data = batches(3)
    init, got, est = train_small(tmp_path, data, 3, ipl, jit=jit, sink=sink)
    want, clipped = numpy_thor(init, data)
    assert clipped[0] and set(want) - clipped[0], "the reference should clip some tensors, not all"
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=2e-4, atol=2e-6, err_msg=name)
    recomputed = dict(SETTINGS, frequency=1)
    other, _ = numpy_thor(init, data, recomputed)
    assert max(np.abs(other[n] - want[n]).max() for n in want) > 1e-3  # reuse is what is tested
    # the stored factors are the last factor step's (step 2), A of the table its counts / B
    _, factors = forward_backward(numpy_thor(init, data[:2])[0], data[2])
    np.testing.assert_allclose(est._optimizer.a_factors["emb/word_embeddings"].numpy(),
                               factors["emb/word_embeddings"][0], rtol=1e-6)


def test_block_inverse_with_a_remainder_block_and_both_layouts():
    rng = np.random.default_rng(0)
    x = rng.normal(size=[20, 7])
    gram = thor.block_gram(tf.constant(x, tf.float32), 3).numpy()
    assert gram.shape == (3, 3, 3)
    full = x.T @ x
    np.testing.assert_allclose(gram[2, :1, :1], full[6:, 6:], rtol=1e-5)  # the 1-wide remainder
    assert not gram[2, 1:].any() and not gram[2, :, 1:].any()
    inverse = thor.block_inverse(tf.constant(gram), 0.3).numpy()
    want = block_diagonal_inverse(full, 0.3)
    np.testing.assert_allclose(inverse[1], want[3:6, 3:6], rtol=1e-5)
    np.testing.assert_allclose(inverse[2, :1, :1], want[6:, 6:], rtol=1e-5)
    g = rng.normal(size=[7, 4])
    np.testing.assert_allclose(thor.left_blocks(tf.constant(inverse, tf.float32), tf.constant(g, tf.float32)).numpy(),
                               want @ g, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(thor.right_blocks(tf.constant(g.T, tf.float32), tf.constant(inverse, tf.float32)).numpy(),
                               g.T @ want, rtol=1e-5, atol=1e-6)
    assert thor.block_shape(5, 128) == (1, 5) and thor.block_shape(384, 128) == (3, 128)


def test_bad_settings_are_one_line_errors():
    cases = [(dict(frequency=1), "--thor_frequency=1 must be at least 2"),
             (dict(damping=0.0), "--thor_damping=0.0 must be positive"),
             (dict(damping=-1e-3), "--thor_damping=-0.001 must be positive"),
             (dict(split_dim=0), "--thor_split_dim=0 must be at least 1"),
             (dict(momentum=1.0), "--momentum=1.0 must be in"),
             (dict(average="both"), "--thor_average=both")]
    for kwargs, message in cases:
        with pytest.raises(UserError, match=message.replace("(", r"\(")):
            optimization.OptimizerConfig(optimizer_type="thor", thor=thor.ThorConfig(**kwargs)).validate()
    variables = {"cls/predictions/output_bias": tf.Variable(tf.zeros([4])),
                 "LayerNorm/gamma": tf.Variable(tf.ones([4]))}
    config = optimization.OptimizerConfig(optimizer_type="thor", thor=thor.ThorConfig())
    with pytest.raises(UserError, match="no layer THOR can precondition"):
        optimization.create_optimizer(variables, config)
