"""A run's settings as plain config objects: what `flags.py` builds from the command line and
everything else takes, so the library can be driven from Python without absl.

`RunnerSettings` holds what every runner script shares (model, output, device, optimizer,
loop and checkpoint settings); `FineTuningSettings` adds what the fine-tuning scripts share.
They hold the user's request only: what follows from it together with the device (the micro
batch per worker, the optimizer's final settings) is worked out once, by `bert_tf.run.Run`.
No TensorFlow here.
"""

import dataclasses

from bert_tf.errors import UserError

# Whether training batches by length when --bucket_by_length is not given (prediction and
# evaluation always do then: their results do not change). Chosen from the measurements in
# docs/benchmarks.md ("Length bucketing").
BUCKET_TRAINING_BY_DEFAULT = False


@dataclasses.dataclass(frozen=True)
class RunnerSettings:
    output_dir: str = None
    bert_config_file: str = None
    init_checkpoint: str = None
    seed: int = 12345
    # device
    device: str = "auto"
    device_options: dict = dataclasses.field(default_factory=dict)
    vendor_options: dict = dataclasses.field(default_factory=dict)  # NPU-only switches (flags.NPU_ONLY_SWITCHES)
    precision: str = "fp32"
    use_xla: bool = False
    # optimization
    train_batch_size: int = 32  # the global batch, over every worker and micro-batch
    learning_rate: float = 5e-5  # for the global batch
    end_learning_rate: float = 0.0
    num_warmup_steps: int = None  # None: fine-tuning takes --warmup_proportion instead
    optimizer_type: str = "adamw"
    adam_epsilon: float = 1e-6
    weight_decay_rate: float = 0.01
    clip_by_global_norm: bool = True
    num_accumulation_steps: int = 1
    scale_lr_by_workers: bool = False
    loss_scale: float = 0.0  # fp16 only: 0 dynamic, >= 1 static, -1 off
    init_loss_scale: float = 2.0 ** 15
    # THOR (optimizer_type "thor"; defaults: BERT-THOR's BERT-Large recipe, see bert_tf/thor.py)
    thor_frequency: int = 100
    thor_damping: float = 0.007035
    thor_damping_end: float = 1e-6
    thor_damping_power: float = 4.0
    thor_lr_power: float = 2.0
    thor_split_dim: int = 128
    thor_average: str = "inverses"
    momentum: float = 0.9
    # the loop, logs and checkpoints
    iterations_per_loop: int = 100
    save_checkpoints_steps: int = 1000
    keep_checkpoint_max: int = 5
    display_loss_steps: int = 10
    save_summary_steps: int = None  # None: every loop
    nan_policy: str = "stop"
    dllog_path: str = None  # NVIDIA's DLLogger JSON lines, beside our log
    # length bucketing (bert_tf.bucketing); None: the default of each part of the run
    bucket_by_length: bool = None
    bucket_boundaries: tuple = ()  # empty: chosen from the data

    def bucketed(self, is_training):
        """Whether training (or else evaluation and prediction) batches by length."""
        if self.bucket_by_length is None:
            return BUCKET_TRAINING_BY_DEFAULT if is_training else True
        return self.bucket_by_length

    def require(self, *names):
        """Raise unless every named setting is given (the scripts' required flags)."""
        for name in names:
            if not getattr(self, name):
                raise UserError(f"--{name} is required")


@dataclasses.dataclass(frozen=True)
class FineTuningSettings(RunnerSettings):
    vocab_file: str = None
    do_lower_case: bool = True
    max_seq_length: int = 128
    do_train: bool = False
    do_eval: bool = False
    do_predict: bool = False
    eval_batch_size: int = 8
    predict_batch_size: int = 8
    num_train_epochs: float = 3.0
    warmup_proportion: float = 0.1
    num_train_steps: int = None  # instead of num_train_epochs
    export_dir: str = None


@dataclasses.dataclass(frozen=True)
class PretrainingSettings(RunnerSettings):
    input_file: str = None  # comma-separated globs
    input_files_dir: str = None
    eval_file: str = None
    eval_files_dir: str = None
    max_seq_length: int = 128
    max_predictions_per_seq: int = 20
    use_v2_feature_names: bool = False
    shard_by_record: bool = False
    do_train: bool = False
    do_eval: bool = False
    eval_all_checkpoints: bool = False
    num_train_steps: int = 100000
    stop_at_step: int = None
    eval_batch_size: int = 8
    max_eval_steps: int = 100
    export_tf1_dir: str = None  # Google's release layout of the final weights
    vocab_file: str = None  # copied beside export_tf1_dir
