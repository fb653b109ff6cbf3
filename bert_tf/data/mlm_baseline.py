"""The masked-LM accuracy of always predicting the most frequent masked token.

The demo compares its masked-LM accuracy with this: a model that learned nothing but the
token frequencies scores about this much, so accuracy well above it means the model learned
from context.

  python -m bert_tf.data.mlm_baseline DATA_DIR_OR_FILE   (reads up to 2,000 records a file)
"""
import collections
import glob
import os


def most_frequent_token_accuracy(paths, limit_per_file=2000):
    """Share of masked positions (weight > 0) holding the most frequent masked token id."""
    from bert_tf import records
    counts = collections.Counter()
    for path in paths:
        for example in records.read_examples(path, limit=limit_per_file):
            counts.update(token for token, weight in
                          zip(example["masked_lm_ids"], example["masked_lm_weights"]) if weight)
    if not counts:
        raise ValueError(f"no masked positions in {', '.join(paths) or 'no files'}")
    return counts.most_common(1)[0][1] / sum(counts.values())


def main(argv):
    """CLI: print the baseline accuracy of a file or of a folder's *.tfrecord files."""
    from bert_tf.errors import DataError, UserError
    if len(argv) != 2:
        raise UserError("usage: python -m bert_tf.data.mlm_baseline DATA_DIR_OR_FILE")
    target = argv[1]
    paths = sorted(glob.glob(os.path.join(target, "*.tfrecord"))) if os.path.isdir(target) else [target]
    if not all(os.path.isfile(path) for path in paths):
        raise UserError(f"{target}: not a pretraining TFRecord file or a folder of *.tfrecord")
    try:
        print(f"{most_frequent_token_accuracy(paths):.3f}")
    except ValueError as e:
        raise DataError(str(e)) from e


if __name__ == "__main__":
    from bert_tf import cli
    cli.run_main(main)
