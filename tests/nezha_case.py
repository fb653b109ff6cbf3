"""The NEZHA case that tests compare with HuggingFace's NezhaModel: a small config, seeded
random weights under Google's names, and real Chinese text longer than 2K + 1 tokens.

Shared by the golden test (tests/test_checkpoints.py) and by the script that writes the
golden file (tests/oracles/make_nezha_golden.py); NumPy only, so the weights are the same
wherever they are drawn. The text is packed as Google does, so `clip(j - i, -K, K)`
saturates for most pairs of the first row.
"""

import numpy as np

# 21,136 rows (a padded table, as NEZHA's release) over the 21,128-line Chinese vocab; K is
# the default 64, so a 140-token row needs the clipping.
CONFIG = dict(vocab_size=21136, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
              intermediate_size=64, max_position_embeddings=512, type_vocab_size=2,
              hidden_act="gelu", hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
              use_relative_position=True, max_relative_position=64)
SEQ = 140
SEED = 20150
CHINESE_VOCAB = "bert_google/chinese_L-12_H-768_A-12/vocab.txt"
TEXT = "pretrain_text_zh/news_zh_1.txt"


def weights(shapes, seed=SEED):
    """{Google TF1 name: float32 array}, drawn in sorted-name order from uniform doubles
    (`Generator.random`, stable across NumPy versions): LayerNorm gammas near 1, the rest
    in +-0.1 (embeddings +-0.5, so the tokens differ visibly)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name in sorted(shapes):
        u = rng.random(shapes[name]) * 2.0 - 1.0
        if name.endswith("gamma"):
            value = 1.0 + 0.2 * u
        elif name.endswith("_embeddings"):
            value = 0.5 * u
        else:
            value = 0.1 * u
        out[name] = value.astype(np.float32)
    return out


def checksum(arrays):
    """A float64 fingerprint of the weights, stored with the golden outputs so a change in how
    they are drawn is reported as such rather than as a model difference."""
    return float(sum(np.abs(a.astype(np.float64)).sum() * (i + 1)
                     for i, (_, a) in enumerate(sorted(arrays.items()))))


def inputs(text_path, vocab_path):
    """Two rows of SEQ from the real text: [CLS] a [SEP] filling the row, and a shorter
    [CLS] a [SEP] b [SEP] pair, zero-padded. -> input_ids, input_mask, segment_ids (int32)."""
    from bert_tf.tokenization import FullTokenizer
    tokenizer = FullTokenizer(str(vocab_path), do_lower_case=True)
    lines = [l.strip() for l in open(text_path, encoding="utf-8") if l.strip()]
    tokens = [t for line in lines[:12] for t in tokenizer.tokenize(line)]
    pair_a = tokenizer.tokenize(lines[20])[:50]
    pair_b = tokenizer.tokenize(lines[21])[:40]
    rows = [(["[CLS]"] + tokens[:SEQ - 2] + ["[SEP]"], [0] * SEQ),
            (["[CLS]"] + pair_a + ["[SEP]"] + pair_b + ["[SEP]"],
             [0] * (len(pair_a) + 2) + [1] * (len(pair_b) + 1))]
    ids = np.zeros([2, SEQ], np.int32)
    mask, segments = np.zeros_like(ids), np.zeros_like(ids)
    for row, (row_tokens, row_types) in enumerate(rows):
        n = len(row_tokens)
        ids[row, :n] = tokenizer.convert_tokens_to_ids(row_tokens)
        mask[row, :n] = 1
        segments[row, :n] = row_types
    return ids, mask, segments


def model_and_weights(model_class=None):
    """(BertConfig, a built model with the seeded weights assigned, {name: array})."""
    from bert_tf import checkpoints
    from bert_tf.config import BertConfig
    from bert_tf.heads import BertModel
    config = BertConfig(**CONFIG, source="tests/nezha_case.py")
    model = (model_class or BertModel)(config).build_for()
    arrays = weights({n: tuple(v.shape) for n, v in model.tf1_weights().items()})
    checkpoints.assign_tf1(model, arrays, source="nezha_case")
    return config, model, arrays


def bench_python():
    """The bench env's Python (torch + transformers), or None when it is not installed."""
    import os
    import pathlib
    root = pathlib.Path(__file__).resolve().parent.parent
    venv = pathlib.Path(os.environ.get("BERT_TF_BENCH_VENV", root / ".venv-bench"))
    python = venv / "bin" / "python"
    return python if python.exists() else None


def run_hf_oracle(hf_dir, inputs_npz, output_npz, save_dir=None):
    """tests/oracles/hf_nezha.py in the bench env; raises with its output if it fails."""
    import os
    import pathlib
    import subprocess
    script = pathlib.Path(__file__).resolve().parent / "oracles" / "hf_nezha.py"
    args = [str(bench_python()), str(script), str(hf_dir), str(inputs_npz), str(output_npz)]
    result = subprocess.run(args + ([str(save_dir)] if save_dir else []), capture_output=True,
                            text=True, timeout=600, env=dict(os.environ, CUDA_VISIBLE_DEVICES=""))
    if result.returncode != 0:
        raise AssertionError(f"hf_nezha.py failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return result.stdout
