"""RunConfig: where the runner starts from, and where and how often it saves, logs and loops."""

import dataclasses

from bert_tf.errors import UserError


@dataclasses.dataclass
class RunConfig:
    model_dir: str
    iterations_per_loop: int = 100
    save_checkpoints_steps: int = 1000
    keep_checkpoint_max: int = 5
    log_every_n_steps: int = 100
    save_summary_steps: int = None  # None: every loop (iterations_per_loop)
    seed: int = 12345
    max_nonfinite_steps: int = 3  # consecutive non-finite fp32 losses before stopping
    # Google's TF1 layout or ours: the weights to start from when model_dir has no checkpoint
    # (training), or to use when it has none (evaluation, prediction).
    init_checkpoint: str = None
    # What a resume depends on (the global batch, the sequence shape, the model config, the
    # input files, ...): recorded beside the checkpoints and compared on resume (checkpointing.RunRecord).
    run_settings: dict = None
    nan_policy: str = "stop"  # "rollback": back to the last checkpoint past the non-finite batches
    dllog_path: str = None  # also log each loop as NVIDIA's DLLogger JSON lines there

    def __post_init__(self):
        for name in ("iterations_per_loop", "save_checkpoints_steps", "keep_checkpoint_max",
                     "log_every_n_steps", "save_summary_steps", "max_nonfinite_steps"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise UserError(f"--{name}={getattr(self, name)} must be at least 1")
        if self.nan_policy not in ("stop", "rollback"):
            raise UserError(f"--nan_policy={self.nan_policy}: use stop or rollback")
