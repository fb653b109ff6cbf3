"""Create masked-LM / next-sentence pretraining TFRecords from raw text (Google's algorithm).

  python create_pretraining_data.py --input_file=corpus/*.txt --vocab_file=vocab.txt \
      --output_file=out.tfrecord --max_seq_length=128 --max_predictions_per_seq=20

  python create_pretraining_data.py --mode=parallel --num_workers=2 --input_file=... \
      --vocab_file=vocab.txt --output_dir=data/ --num_output_shards=16
"""

import bert_tf  # noqa: F401  (first: environment for TensorFlow)
from absl import flags

from bert_tf import cli
from bert_tf.data import pretraining_job
from bert_tf.flags import define_pretraining_data_flags, pretraining_data_options

define_pretraining_data_flags()
flags.mark_flags_as_required(["input_file", "vocab_file"])


def main(_):
    pretraining_job.run(pretraining_data_options())


if __name__ == "__main__":
    cli.run_main(main)
