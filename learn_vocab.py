"""Learn a WordPiece vocab.txt from raw text, for corpora without a BERT vocab.

  python learn_vocab.py --input_file='corpus/*.txt' --output_file=vocab.txt --vocab_size=8000
"""

import bert_tf  # noqa: F401
from absl import flags, logging

from bert_tf import atomic, cli, files
from bert_tf.data import pretraining_job, vocab
from bert_tf.errors import UserError

FLAGS = flags.FLAGS
flags.DEFINE_string("input_file", None, "Raw text file(s): comma list, globs allowed.")
flags.DEFINE_string("output_file", None, "Where to write vocab.txt.")
flags.DEFINE_integer("vocab_size", 30522, "Largest vocab size (special tokens included).")
flags.DEFINE_bool("do_lower_case", True, "Lower-case and strip accents, as an uncased model does.")
flags.DEFINE_integer("num_unused", 0, "Extra [unusedN] slots after the special tokens.")
flags.DEFINE_integer("min_count", 2, "Lowest word count the learner considers.")
flags.mark_flags_as_required(["input_file", "output_file"])


def check_flags():
    """Every flag checked before the corpus is read: a mistake costs a second, not a run."""
    if FLAGS.vocab_size < 100:
        raise UserError(f"--vocab_size={FLAGS.vocab_size} is too small for a WordPiece vocab (use >= 100)")
    vocab.check_sizes(FLAGS.vocab_size, FLAGS.num_unused)
    atomic.check_output_file(FLAGS.output_file, f"--output_file={FLAGS.output_file}")


def main(_):
    check_flags()
    inputs = files.expand(FLAGS.input_file)
    for path in inputs:
        pretraining_job.check_text_file(path)
    lines = (line for doc in pretraining_job.iter_raw_documents(inputs) for line in doc)
    counts = vocab.count_words(lines, FLAGS.do_lower_case)
    if not counts:
        raise UserError(f"--input_file: no words in {', '.join(inputs)}")
    tokens = vocab.learn_vocab(counts, FLAGS.vocab_size, FLAGS.num_unused, FLAGS.min_count)
    vocab.write_vocab(tokens, FLAGS.output_file)
    logging.info("learned %d tokens from %d distinct words; wrote %s", len(tokens), len(counts),
                 FLAGS.output_file)


if __name__ == "__main__":
    cli.run_main(main)
