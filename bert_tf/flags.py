"""absl flags shared by the scripts, under the names users know from Google, NVIDIA and Ascend.

Each script calls the `define_*` groups it needs, then builds its options from FLAGS.
"""

from absl import flags

FLAGS = flags.FLAGS


def define_pretraining_data_flags():
    """create_pretraining_data.py: Google's flags, NVIDIA's/Model Garden's, and ours."""
    flags.DEFINE_string("input_file", None, "Input raw text file(s): comma list, globs allowed. "
                        "One sentence per line, blank line between documents.")
    flags.DEFINE_string("output_file", None, "Output TFRecord file(s), comma list (written round-robin).")
    flags.DEFINE_string("output_dir", None, "Instead of --output_file: a folder for "
                        "part-00000-of-NNNNN.tfrecord shards.")
    flags.DEFINE_integer("num_output_shards", 1, "With --output_dir: how many shard files.")
    flags.DEFINE_string("vocab_file", None, "The vocabulary file the BERT model was trained on.")
    flags.DEFINE_bool("do_lower_case", True, "Lower-case the input (uncased models).")
    flags.DEFINE_bool("preserve_unused_tokens", False, "Keep [unusedN] vocab words whole "
                      "instead of WordPiece-splitting them (Google's flag).")
    flags.DEFINE_bool("do_whole_word_mask", False, "Mask whole words (all of a word's WordPieces).")
    flags.DEFINE_integer("max_seq_length", 128, "Maximum sequence length.")
    flags.DEFINE_integer("max_predictions_per_seq", 20, "Maximum masked LM predictions per sequence.")
    flags.DEFINE_integer("random_seed", 12345, "Random seed for data generation.")
    flags.DEFINE_integer("dupe_factor", 10, "Times to duplicate the input data (different masks).")
    flags.DEFINE_float("masked_lm_prob", 0.15, "Masked LM probability.")
    flags.DEFINE_float("short_seq_prob", 0.1, "Probability of a shorter-than-maximum sequence.")
    flags.DEFINE_integer("max_ngram_size", None, "Model Garden's n-gram masking: not supported; "
                         "leave unset (Google's masking) or 1.")
    flags.DEFINE_bool("gzip_compress", False, "Write GZIP-compressed TFRecords.")
    flags.DEFINE_bool("use_v2_feature_names", False, "Model Garden's feature names "
                      "(input_word_ids, input_type_ids).")
    flags.DEFINE_enum("mode", "reference", ["reference", "parallel"], "reference: Google's exact "
                      "records; parallel: sharded, multi-process, bounded memory.")
    flags.DEFINE_integer("num_workers", 1, "Worker processes for --mode=parallel.")
    flags.DEFINE_enum("tokenizer", "auto", ["auto", "python", "tf_text"], "Tokenizer "
                      "implementation, exact either way: 'python' (Google's, memoized per word; "
                      "no TensorFlow in memory), 'tf_text' (tensorflow-text where it agrees with "
                      "Google's, Python elsewhere), 'auto' (tf_text for reference-mode inputs "
                      "over 64 MB, where it pays for loading TensorFlow; python otherwise).")
