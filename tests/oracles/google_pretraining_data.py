"""Oracle: Google's create_pretraining_data.py (bert-tensorflow 1.0.4) with the given flags.

  python google_pretraining_data.py --input_file=... --output_file=... --vocab_file=... [...]

Runs Google's own main() under TF 2.21. bert-tensorflow 1.0.4 predates Google's
`--do_whole_word_mask`; with that flag this oracle swaps in Google's current
`create_masked_lm_predictions`, whose only change is the candidate grouping: a `##` piece
joins the previous word's candidate, and a word is skipped if it would exceed the
prediction budget or overlaps a covered index. Random-number calls are unchanged.
"""

import collections
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tf1_shim  # noqa: E402,F401
from absl import app, flags  # noqa: E402
from bert import create_pretraining_data as google  # noqa: E402

flags.DEFINE_bool("do_whole_word_mask", False, "Google's current whole-word masking.")
MaskedLm = collections.namedtuple("MaskedLm", ["index", "label"])


def whole_word_masked_lm_predictions(tokens, masked_lm_prob, max_predictions_per_seq,
                                     vocab_words, rng):
    cand_indexes = []
    for (i, token) in enumerate(tokens):
        if token == "[CLS]" or token == "[SEP]":
            continue
        if flags.FLAGS.do_whole_word_mask and len(cand_indexes) >= 1 and token.startswith("##"):
            cand_indexes[-1].append(i)
        else:
            cand_indexes.append([i])
    rng.shuffle(cand_indexes)
    output_tokens = list(tokens)
    num_to_predict = min(max_predictions_per_seq, max(1, int(round(len(tokens) * masked_lm_prob))))
    masked_lms = []
    covered_indexes = set()
    for index_set in cand_indexes:
        if len(masked_lms) >= num_to_predict:
            break
        if len(masked_lms) + len(index_set) > num_to_predict:
            continue
        if any(index in covered_indexes for index in index_set):
            continue
        for index in index_set:
            covered_indexes.add(index)
            if rng.random() < 0.8:
                masked_token = "[MASK]"
            else:
                if rng.random() < 0.5:
                    masked_token = tokens[index]
                else:
                    masked_token = vocab_words[rng.randint(0, len(vocab_words) - 1)]
            output_tokens[index] = masked_token
            masked_lms.append(MaskedLm(index=index, label=tokens[index]))
    masked_lms = sorted(masked_lms, key=lambda x: x.index)
    return (output_tokens, [p.index for p in masked_lms], [p.label for p in masked_lms])


def main(argv):
    if flags.FLAGS.do_whole_word_mask:
        google.create_masked_lm_predictions = whole_word_masked_lm_predictions
    google.main(argv)


if __name__ == "__main__":
    app.run(main)
