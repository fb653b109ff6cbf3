"""Create masked-LM / next-sentence pretraining TFRecords from raw text (Google's algorithm).

  python create_pretraining_data.py --input_file=corpus/*.txt --vocab_file=vocab.txt \
      --output_file=out.tfrecord --max_seq_length=128 --max_predictions_per_seq=20

  python create_pretraining_data.py --mode=parallel --num_workers=2 --input_file=... \
      --vocab_file=vocab.txt --output_dir=data/ --num_output_shards=16
"""

import os

import bert_tf  # noqa: F401  (first: environment for TensorFlow)
from absl import flags

from bert_tf import atomic, cli
from bert_tf.errors import UserError
from bert_tf.data import pretraining_job
from bert_tf.flags import FLAGS, define_pretraining_data_flags

define_pretraining_data_flags()
flags.mark_flags_as_required(["input_file", "vocab_file"])


def options_from_flags():
    if FLAGS.max_ngram_size not in (None, 1):
        raise UserError(f"--max_ngram_size={FLAGS.max_ngram_size}: n-gram masking is not "
                            "supported; omit the flag for Google's masking")
    if bool(FLAGS.output_file) == bool(FLAGS.output_dir):
        raise UserError("give exactly one of --output_file (comma list) or --output_dir")
    if FLAGS.output_dir:
        if os.path.exists(FLAGS.output_dir) and not os.path.isdir(FLAGS.output_dir):
            raise UserError(f"--output_dir={FLAGS.output_dir} is a file; give a folder")
        if FLAGS.num_output_shards < 1:
            raise UserError(f"--num_output_shards={FLAGS.num_output_shards} must be at least 1")
        outputs = pretraining_job.shard_names(FLAGS.output_dir, FLAGS.num_output_shards,
                                              FLAGS.gzip_compress)
    else:
        outputs = [f for f in FLAGS.output_file.split(",") if f]
        for path in outputs:  # before the corpus is read
            atomic.check_output_file(path, f"--output_file={path}")
    if FLAGS.mode == "parallel" and FLAGS.output_file and len(outputs) < FLAGS.num_workers:
        raise UserError(f"--mode=parallel writes one file per shard: give at least "
                            f"--num_workers={FLAGS.num_workers} output files, or use --output_dir "
                            "with --num_output_shards")
    return pretraining_job.JobOptions(
        input_files=pretraining_job.expand_inputs(FLAGS.input_file), vocab_file=FLAGS.vocab_file,
        output_files=outputs, do_lower_case=FLAGS.do_lower_case,
        max_seq_length=FLAGS.max_seq_length, max_predictions_per_seq=FLAGS.max_predictions_per_seq,
        random_seed=FLAGS.random_seed, dupe_factor=FLAGS.dupe_factor,
        masked_lm_prob=FLAGS.masked_lm_prob, short_seq_prob=FLAGS.short_seq_prob,
        do_whole_word_mask=FLAGS.do_whole_word_mask, gzip_compress=FLAGS.gzip_compress,
        use_v2_feature_names=FLAGS.use_v2_feature_names, mode=FLAGS.mode,
        num_workers=FLAGS.num_workers, tokenizer=FLAGS.tokenizer,
        preserve_unused_tokens=FLAGS.preserve_unused_tokens)


def main(_):
    pretraining_job.run(options_from_flags())


if __name__ == "__main__":
    cli.run_main(main)
