"""An independent float64 NumPy BERT forward pass over Google-named weights (test reference).

Written from the BERT paper and Google's modeling.py semantics, sharing no code with
bert_tf: if both agree, the model and the checkpoint mapping are right.
"""

import math

import numpy as np

_erf = np.vectorize(math.erf)


def _gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def _gelu_erf(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


ACTS = {"gelu": _gelu_tanh, "gelu_exact": _gelu_erf, "relu": lambda x: np.maximum(x, 0),
        "tanh": np.tanh}


def _layer_norm(x, gamma, beta, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def _softmax(x):
    x = x - x.max(-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(-1, keepdims=True)


def relative_positions(seq, max_relative_position, depth):
    """NEZHA's R [seq, seq, depth], element by element from the paper's definition:
    R[i, j, 2m] = sin(p / 10000^(2m/d)), R[i, j, 2m+1] = cos(p / 10000^(2m/d)),
    p = clip(j - i, -K, K) + K."""
    out = np.zeros([seq, seq, depth])
    for i in range(seq):
        for j in range(seq):
            p = min(max(j - i, -max_relative_position), max_relative_position) + max_relative_position
            for m in range(depth // 2):
                angle = p / 10000.0 ** (2 * m / depth)
                out[i, j, 2 * m], out[i, j, 2 * m + 1] = math.sin(angle), math.cos(angle)
    return out


def attention(q, k, v, adder, relative=None):
    """q, k, v [batch, heads, seq, d] -> context [batch, heads, seq, d].

    BERT: softmax(q.k / sqrt(d) + mask) v. NEZHA (relative R [seq, seq, d]): score(i, j) =
    (q_i.k_j + q_i.R_ij) / sqrt(d) + mask, context_i = sum_j p_ij (v_j + R_ij), written with
    explicit per-pair terms rather than reshaped matmuls.
    """
    scores = q @ k.transpose(0, 1, 3, 2)
    if relative is not None:
        scores = scores + np.einsum("bhid,ijd->bhij", q, relative)
    probs = _softmax(scores / math.sqrt(q.shape[-1]) + adder)
    context = probs @ v
    if relative is not None:
        context = context + np.einsum("bhij,ijd->bhid", probs, relative)
    return context


def forward(w, input_ids, input_mask, segment_ids, num_layers, num_heads, act="gelu", eps=1e-12,
            max_relative_position=None):
    """w: {Google TF1 name: array}. Returns (sequence_output, pooled_output, layers).

    With `max_relative_position`, NEZHA: no position table, relative attention."""
    w = {k: np.asarray(v, np.float64) for k, v in w.items()}
    g = lambda name: w["bert/" + name]  # noqa: E731
    batch, seq = input_ids.shape
    x = g("embeddings/word_embeddings")[input_ids] + g("embeddings/token_type_embeddings")[segment_ids]
    relative = None
    if max_relative_position is None:
        x = x + g("embeddings/position_embeddings")[:seq][None]
    x = _layer_norm(x, g("embeddings/LayerNorm/gamma"), g("embeddings/LayerNorm/beta"), eps)
    hidden = x.shape[-1]
    head = hidden // num_heads
    if max_relative_position is not None:
        relative = relative_positions(seq, max_relative_position, head)
    adder = (1.0 - input_mask[:, None, None, :].astype(np.float64)) * -10000.0
    layers = []
    for i in range(num_layers):
        p = f"encoder/layer_{i}/"
        dense = lambda h, n: h @ g(p + n + "/kernel") + g(p + n + "/bias")  # noqa: E731
        split = lambda t: t.reshape(batch, seq, num_heads, head).transpose(0, 2, 1, 3)  # noqa: E731
        q, k, v = (split(dense(x, f"attention/self/{n}")) for n in ("query", "key", "value"))
        ctx = attention(q, k, v, adder, relative).transpose(0, 2, 1, 3).reshape(batch, seq, hidden)
        x = _layer_norm(dense(ctx, "attention/output/dense") + x,
                        g(p + "attention/output/LayerNorm/gamma"),
                        g(p + "attention/output/LayerNorm/beta"), eps)
        inter = ACTS[act](dense(x, "intermediate/dense"))
        x = _layer_norm(dense(inter, "output/dense") + x, g(p + "output/LayerNorm/gamma"),
                        g(p + "output/LayerNorm/beta"), eps)
        layers.append(x)
    pooled = np.tanh(x[:, 0] @ g("pooler/dense/kernel") + g("pooler/dense/bias"))
    return x, pooled, layers
