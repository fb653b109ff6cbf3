"""absl flags shared by the scripts, under the names users know from Google, NVIDIA and Ascend.

Each script calls the `define_*` groups it needs, then turns FLAGS into the settings objects
of `bert_tf.settings` (`runner_settings`, `finetuning_settings`). This is the only module of
the package that reads FLAGS: the rest takes settings objects.
"""

import dataclasses
import os

from absl import flags

from bert_tf import bucketing
from bert_tf.errors import UserError
from bert_tf.settings import FineTuningSettings, PretrainingSettings, RunnerSettings

FLAGS = flags.FLAGS

# Ascend's NPU-only switches (its BERT scripts' flags): options for an NPU device plugin.
NPU_ONLY_SWITCHES = {"npu_bert_use_tdt": (bool, "data pipeline offload (TDT)"),
                     "npu_bert_debug": (bool, "debug mode"),
                     "npu_bert_fused_gelu": (bool, "fused gelu kernel"),
                     "npu_bert_npu_dropout": (bool, "NPU dropout kernel"),
                     "npu_bert_job_start_file": (str, "job start marker file")}


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


def define_runner_flags():
    """The runner's flags, shared by run_pretraining.py, run_squad.py, run_classifier.py, ..."""
    flags.DEFINE_string("bert_config_file", None, "bert_config.json of the model.")
    flags.DEFINE_string("output_dir", None, "Model directory: checkpoints, logs, summaries, results.")
    flags.DEFINE_string("init_checkpoint", None, "Initial checkpoint (Google TF1 layout or ours), "
                        "used when output_dir has no checkpoint yet.")
    flags.DEFINE_float("learning_rate", 5e-5, "Peak learning rate (per global batch). BERT-THOR's "
                       "BERT-Large recipe: 0.006464 with --optimizer_type=thor.")
    flags.DEFINE_float("end_learning_rate", 0.0, "Learning rate at the end of the polynomial decay "
                       "(BERT-THOR recipe: 1e-6).")
    flags.DEFINE_integer("num_warmup_steps", 10000, "Linear warmup steps (BERT-THOR recipe: 0).")
    flags.DEFINE_enum("optimizer_type", "adamw", ["adamw", "lamb", "thor", "adam"],
                      "Google's AdamW, NVIDIA's LAMB, or THOR, the second-order optimizer of MindSpore's BERT-THOR "
                      "(the --thor_* flags and --momentum; see the README); adam: NVIDIA's and "
                      "Ascend's name for AdamW.")
    flags.DEFINE_float("adam_epsilon", 1e-6, "Epsilon of AdamW/LAMB (Ascend's configuration: 1e-4).")
    flags.DEFINE_float("weight_decay_rate", 0.01, "Decoupled weight decay (not on LayerNorm, bias); "
                       "with THOR: L2 added to the preconditioned gradient (BERT-THOR recipe: 0).")
    flags.DEFINE_bool("clip_by_global_norm", True, "Clip gradients to global norm 1.0; with THOR: "
                      "THOR's clip instead, each tensor to norm 1.0 after preconditioning.")
    define_thor_flags()
    flags.DEFINE_integer("num_accumulation_steps", 1, "Micro-batches per optimizer step.")
    flags.DEFINE_integer("iterations_per_loop", 100, "Optimizer steps per compiled loop.")
    flags.DEFINE_integer("save_checkpoints_steps", 1000, "Save a checkpoint every N steps.")
    flags.DEFINE_integer("keep_checkpoint_max", 5, "Checkpoints kept in output_dir.")
    flags.DEFINE_integer("display_loss_steps", 10, "Log losses every N steps (at loop ends).")
    flags.DEFINE_integer("save_summary_steps", None, "TensorBoard summaries every N steps (default: "
                         "every loop, --iterations_per_loop).")
    flags.DEFINE_integer("seed", 12345, "Seed for initialization, dropout and input order.")
    flags.DEFINE_enum("nan_policy", "stop", ["stop", "rollback"], "After 3 consecutive non-finite "
                      "fp32 losses: stop (keeping the last good checkpoint), or roll back to the last "
                      "checkpoint and go on past the batches read since it (logged; at most 3 times "
                      "in a row).")
    flags.DEFINE_bool("amp", False, "Mixed precision float16 with loss scaling (NVIDIA's --amp).")
    flags.DEFINE_bool("use_fp16", False, "Same as --amp (older NVIDIA scripts).")
    flags.DEFINE_enum("precision", None, ["fp32", "fp16", "bf16"], "Compute precision "
                      "(default fp32; --amp means fp16).")
    flags.DEFINE_float("loss_scale", 0.0, "fp16 loss scaling: 0 dynamic, >= 1 static, -1 off.")
    flags.DEFINE_float("init_loss_scale", 2.0 ** 15, "Initial dynamic loss scale.")
    flags.DEFINE_bool("use_xla", False, "XLA-compile the forward/backward computation.")
    flags.DEFINE_string("device", "auto", "Device strategy: auto (the GPU when TensorFlow sees one, "
                        "else the CPU), cpu, gpu, horovod, mirrored (tf.distribute over this host's "
                        "GPUs), multiworker (tf.distribute over TF_CONFIG's workers), or one registered "
                        "under the bert_tf.devices entry point (see docs/devices.md).")
    flags.DEFINE_bool("horovod", False, "Multi-worker data parallelism with Horovod (launch with "
                      "horovodrun); same as --device=horovod.")
    flags.DEFINE_bool("use_horovod", False, "Same as --horovod.")
    flags.DEFINE_bool("distributed", False, "Ascend's name: several workers; Horovod on cpu/gpu, "
                      "the device's own runtime for a plugin device (--device).")
    flags.DEFINE_bool("hvd_fp16_compression", False, "All-reduce gradients in float16 (Horovod, "
                      "--device=mirrored and multiworker).")
    flags.DEFINE_multi_string("device_option", [], "key=value setting for the --device strategy "
                              "(repeatable; see docs/devices.md).")
    flags.DEFINE_string("precision_mode", None, "Ascend's precision mode for an NPU device plugin "
                        "(allow_mix_precision, must_keep_origin_dtype, ...).")
    flags.DEFINE_integer("npu_bert_loss_scale", None, "Ascend's name for --loss_scale (the same on "
                         "every device): 0 dynamic, >= 1 static, -1 off.")
    flags.DEFINE_bool("npu_bert_clip_by_global_norm", None, "Ascend's name for --clip_by_global_norm "
                      "(the same on every device).")
    for name, (kind, what) in NPU_ONLY_SWITCHES.items():
        define = flags.DEFINE_bool if kind is bool else flags.DEFINE_string
        define(name, None, f"Ascend's {what}: an option of an NPU device plugin (--device=npu); on "
               "another device it changes nothing (said in the log).")
    # NVIDIA's TF1 pretraining flags, with their meaning here
    flags.DEFINE_bool("allreduce_post_accumulation", True, "NVIDIA's: reduce gradients once per "
                      "optimizer step, after accumulation (what bert_tf always does; false is refused).")
    flags.DEFINE_bool("report_loss", True, "NVIDIA's: report the loss (bert_tf always does: the log "
                      "line, log.jsonl, summaries; false is refused).")
    flags.DEFINE_bool("manual_fp16", False, "NVIDIA's: float16 with loss scaling (as --amp).")
    flags.DEFINE_bool("use_fp16_cls", True, "NVIDIA's: the output layers compute in float16 under "
                      "--amp (what bert_tf does: matmuls in the compute dtype, softmax in float32; false "
                      "is refused).")
    flags.DEFINE_string("dllog_path", None, "NVIDIA's: also write each logged loop as DLLogger JSON "
                        "lines (\"DLLL {...}\") to this file (appended).")
    flags.DEFINE_bool("shard_by_record", False, "Several workers: each reads every n-th record "
                      "instead of its own files (needed when there are fewer files than workers).")
    flags.DEFINE_bool("scale_lr_by_workers", False, "Multiply --learning_rate by the number of "
                      "workers (for learning rates tuned per worker batch).")
    define_bucketing_flags(
        "Batch examples by length, each batch padded only to its bucket's length (see "
        "--bucket_boundaries). Unset: on for evaluation and prediction (their results are "
        "unchanged, in input order), off for training; --bucket_by_length: training too "
        "(each batch then holds examples of one length bucket, buckets in a seeded order: "
        "MRPC trains 1.8x faster but one epoch scored lower, see README); "
        "--nobucket_by_length: Google's padding to --max_seq_length everywhere. "
        "run_pretraining.py buckets its evaluation only (pretraining records are packed to "
        "--max_seq_length).")


def define_bucketing_flags(help_text):
    """--bucket_by_length and --bucket_boundaries (bert_tf.bucketing)."""
    flags.DEFINE_bool("bucket_by_length", None, help_text)
    flags.DEFINE_string("bucket_boundaries", "", "With length bucketing: the bucket lengths, "
                        "comma-separated in increasing order, none above --max_seq_length "
                        "(e.g. 32,64,96,128; longer examples go to --max_seq_length). Default: "
                        f"up to {bucketing.MAX_BUCKETS} lengths (multiples of {bucketing.MULTIPLE}) "
                        "chosen from the input's lengths to pad least.")


def bucket_boundaries():
    """--bucket_boundaries as a tuple, checked against --max_seq_length; an error when
    bucketing is switched off (the flag would do nothing)."""
    boundaries = bucketing.parse_boundaries(FLAGS.bucket_boundaries, FLAGS.max_seq_length)
    if boundaries and FLAGS.bucket_by_length is False:
        raise UserError("--bucket_boundaries needs length bucketing: drop --nobucket_by_length "
                        "or the boundaries")
    return boundaries


# THOR's flags: accepted only with --optimizer_type=thor (`runner_settings` refuses them
# otherwise, as it refuses --adam_epsilon with THOR).
THOR_FLAGS = ("thor_frequency", "thor_damping", "thor_damping_end", "thor_damping_power",
              "thor_lr_power", "thor_split_dim", "thor_average", "momentum")


def define_thor_flags():
    """--optimizer_type=thor's settings; the defaults are BERT-THOR's BERT-Large recipe (8 Ascend
    910, batch 12 each, seq 512, 30,000-step schedules stopped at 3,000 steps)."""
    flags.DEFINE_integer("thor_frequency", 100, "THOR: one step in N computes the factors and their "
                         "inverses, the others reuse them (recipe: 100; at least 2).")
    flags.DEFINE_float("thor_damping", 0.007035, "THOR: damping lambda at step 0; sqrt(lambda) is "
                       "added to every factor (recipe: 0.007035).")
    flags.DEFINE_float("thor_damping_end", 1e-6, "THOR: damping at --num_train_steps (recipe: 1e-6).")
    flags.DEFINE_float("thor_damping_power", 4.0, "THOR: power of the damping's polynomial decay "
                       "(recipe: 4).")
    flags.DEFINE_float("thor_lr_power", 2.0, "THOR: power of the learning rate's polynomial decay "
                       "from --learning_rate to --end_learning_rate (recipe: 2).")
    flags.DEFINE_integer("thor_split_dim", 128, "THOR: width of the diagonal blocks each factor is "
                         "inverted in (recipe: 128; a last block may be smaller).")
    flags.DEFINE_enum("thor_average", "inverses", ["inverses", "factors"], "THOR with several "
                      "workers: average each worker's inverses (MindSpore's way) or the factors "
                      "before inverting (the same as one worker with the whole batch).")
    flags.DEFINE_float("momentum", 0.9, "THOR's momentum (recipe: 0.9).")


def define_finetuning_flags(max_seq_length=128, learning_rate=5e-5, train_batch_size=32,
                            predict_batch_size=8):
    """The flags Google's run_classifier.py / run_squad.py share, on top of the runner's."""
    define_runner_flags()
    FLAGS.set_default("learning_rate", learning_rate)
    FLAGS.set_default("iterations_per_loop", 100)
    flags.DEFINE_string("vocab_file", None, "The vocabulary file the BERT model was trained on.")
    flags.DEFINE_bool("do_lower_case", True, "Lower-case the input (uncased models).")
    flags.DEFINE_integer("max_seq_length", max_seq_length, "Maximum total input length in WordPieces (NEZHA: may exceed max_position_embeddings).")
    flags.DEFINE_bool("do_train", False, "Fine-tune.")
    flags.DEFINE_bool("do_eval", False, "Evaluate on the dev set.")
    flags.DEFINE_bool("do_predict", False, "Predict (the test set, or --predict_file).")
    flags.DEFINE_integer("train_batch_size", train_batch_size, "Global training batch size.")
    flags.DEFINE_integer("eval_batch_size", 8, "Evaluation batch size.")
    flags.DEFINE_integer("predict_batch_size", predict_batch_size, "Prediction batch size.")
    flags.DEFINE_float("num_train_epochs", 3.0, "Training epochs.")
    flags.DEFINE_float("warmup_proportion", 0.1, "Share of training for linear warmup.")
    flags.DEFINE_integer("num_train_steps", None, "Train this many steps instead of --num_train_epochs.")
    flags.DEFINE_string("export_dir", None, "After training, export a SavedModel here.")


# ---------------------------------------------------------------------- flags -> settings
def pretraining_data_options():
    """create_pretraining_data.py's flags -> the data job's JobOptions."""
    from bert_tf import atomic, files
    from bert_tf.data import pretraining_job
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
        input_files=files.expand(FLAGS.input_file), vocab_file=FLAGS.vocab_file,
        output_files=outputs, do_lower_case=FLAGS.do_lower_case,
        max_seq_length=FLAGS.max_seq_length, max_predictions_per_seq=FLAGS.max_predictions_per_seq,
        random_seed=FLAGS.random_seed, dupe_factor=FLAGS.dupe_factor,
        masked_lm_prob=FLAGS.masked_lm_prob, short_seq_prob=FLAGS.short_seq_prob,
        do_whole_word_mask=FLAGS.do_whole_word_mask, gzip_compress=FLAGS.gzip_compress,
        use_v2_feature_names=FLAGS.use_v2_feature_names, mode=FLAGS.mode,
        num_workers=FLAGS.num_workers, tokenizer=FLAGS.tokenizer,
        preserve_unused_tokens=FLAGS.preserve_unused_tokens)


def _precision():
    fp16 = FLAGS.amp or FLAGS.use_fp16 or FLAGS.manual_fp16
    if FLAGS.precision and fp16 and FLAGS.precision != "fp16":
        raise UserError(f"--amp asks for fp16 but --precision={FLAGS.precision}; give one of them")
    return FLAGS.precision or ("fp16" if fp16 else "fp32")


def _same_as(flag, ascend_flag):
    """Ascend's name for one of our settings: its value when given (and not contradicted)."""
    ours, theirs = FLAGS[flag], FLAGS[ascend_flag]
    if theirs.value is None:
        return ours.value
    if ours.present and ours.value != theirs.value:
        raise UserError(f"--{ascend_flag}={theirs.value} and --{flag}={ours.value} disagree; give one of them")
    return type(ours.value)(theirs.value)


def _nvidia_flags():
    """NVIDIA's flags whose false value would ask for what bert_tf does not do."""
    if not FLAGS.allreduce_post_accumulation:
        raise UserError("--allreduce_post_accumulation=false: bert_tf averages gradients once per optimizer "
                        "step, after the accumulated micro-batches (reducing each micro-batch would cost "
                        "k allreduces per step for the same result); drop the flag")
    if not FLAGS.use_fp16_cls:
        raise UserError("--use_fp16_cls=false: bert_tf's output layers run their matmuls in the compute "
                        "dtype (float16 under --amp) and their softmax and loss in float32; drop the flag")
    if not FLAGS.report_loss:
        raise UserError("--report_loss=false: bert_tf always reports the loss (the log line, log.jsonl, "
                        "TensorBoard summaries); drop the flag")


def _device():
    """--device, with NVIDIA's --horovod/--use_horovod and Ascend's --distributed folded in."""
    device = FLAGS.device
    if FLAGS.horovod or FLAGS.use_horovod:
        if device not in ("auto", "cpu", "gpu", "horovod"):
            raise UserError(f"--horovod conflicts with --device={device}; give one of them")
        device = "horovod"
    if FLAGS.distributed and device in ("auto", "cpu", "gpu"):
        device = "horovod"
    return device


def _device_options():
    """--device_option key=value pairs plus the device-specific flags users know by name."""
    options = {}
    for item in FLAGS.device_option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--device_option={item!r}: expected key=value")
        options[key] = value
    named = {"fp16_compression": FLAGS.hvd_fp16_compression or None, "precision_mode": FLAGS.precision_mode}
    options.update((k, v) for k, v in named.items() if v is not None)
    return options


def _vendor_options():
    """The NPU-only switches given: options of a device that takes them, a log line elsewhere."""
    return {name: FLAGS[name].value for name in NPU_ONLY_SWITCHES if FLAGS[name].value is not None}


def _values(settings_class, **overrides):
    """The fields of `settings_class` that are flags here, by the same name, plus `overrides`."""
    names = {f.name for f in dataclasses.fields(settings_class)}
    values = {name: FLAGS[name].value for name in names if name in FLAGS}
    values.update(overrides)
    return values


def options(options_class):
    """A script's own settings object (e.g. `SquadOptions`), filled from the flags of the same
    names."""
    return options_class(**_values(options_class))


def _require_optimizer_flags():
    """THOR's flags only with THOR, Adam's epsilon only without: a flag must not be ignored."""
    if FLAGS.optimizer_type == "thor":
        if FLAGS["adam_epsilon"].present:
            raise UserError("--adam_epsilon applies to adamw and lamb, not --optimizer_type=thor")
        return
    given = [name for name in THOR_FLAGS if FLAGS[name].present]
    if given:
        raise UserError(f"--{given[0]} applies to --optimizer_type=thor only (this run uses "
                        f"{FLAGS.optimizer_type})")


def runner_settings(settings_class=RunnerSettings, **overrides):
    """The runner's flags (define_runner_flags, and the script's own fields of
    `settings_class` that share a flag's name) -> a settings object."""
    _nvidia_flags()
    _require_optimizer_flags()
    return settings_class(**_values(
        settings_class, device=_device(), device_options=_device_options(), precision=_precision(),
        vendor_options=_vendor_options(), loss_scale=_same_as("loss_scale", "npu_bert_loss_scale"),
        optimizer_type={"adam": "adamw"}.get(FLAGS.optimizer_type, FLAGS.optimizer_type),
        clip_by_global_norm=_same_as("clip_by_global_norm", "npu_bert_clip_by_global_norm"),
        bucket_boundaries=bucket_boundaries(), **overrides))


def pretraining_settings():
    """run_pretraining.py's flags -> PretrainingSettings."""
    return runner_settings(PretrainingSettings)


def finetuning_settings():
    """The fine-tuning scripts' flags -> FineTuningSettings."""
    if FLAGS["shard_by_record"].present:
        raise UserError("--shard_by_record: fine-tuning workers always share the feature file by "
                        "record; drop the flag")
    explicit_warmup = FLAGS.num_warmup_steps if FLAGS["num_warmup_steps"].present else None
    settings = runner_settings(FineTuningSettings, num_warmup_steps=explicit_warmup)
    settings.require("vocab_file", "bert_config_file", "output_dir")
    return settings
