"""One script's run: its settings, the device strategy they name, and what follows from both.

This is the one place where the user's settings meet the device: the micro-batch each worker
computes, the learning rate for the worker count, the device's wishes for loss scaling and
clipping (`DeviceStrategy.configure_training`), the Estimator's `RunConfig`. Everything
downstream (the Estimator, the tasks) takes the results and never looks at flags.
"""

import os

from absl import logging

from bert_tf.config import BertConfig
from bert_tf.errors import UserError
from bert_tf.settings import RunnerSettings


class Run:
    def __init__(self, settings: RunnerSettings):
        from bert_tf.distribute import create_strategy
        settings.require("bert_config_file", "output_dir")
        self.settings = settings
        self.strategy = create_strategy(settings.device, jit_compile=settings.use_xla,
                                        precision=settings.precision, options=settings.device_options)
        logging.info("device: %s, %d replica(s), %s%s", self.strategy.name, self.strategy.num_replicas,
                     self.strategy.precision, ", XLA" if settings.use_xla else "")

    def bert_config(self, max_seq_length):
        """The model's config, checked against the sequence length the run feeds it."""
        config = BertConfig.from_json_file(self.settings.bert_config_file)
        if max_seq_length > config.max_position_embeddings:
            raise UserError(f"--max_seq_length={max_seq_length} exceeds max_position_embeddings="
                            f"{config.max_position_embeddings} of {self.settings.bert_config_file}")
        return config

    def micro_batch_size(self):
        """The micro-batch each worker computes: global / (workers x accumulation steps)."""
        s = self.settings
        if s.train_batch_size < 1:
            raise UserError(f"--train_batch_size={s.train_batch_size} must be at least 1 (the "
                            "global batch)")
        if s.num_accumulation_steps < 1:
            raise UserError(f"--num_accumulation_steps={s.num_accumulation_steps} must be at least 1")
        workers = self.strategy.num_replicas
        parts = workers * s.num_accumulation_steps
        if s.train_batch_size % parts:
            by = f"{workers} worker(s) x " if workers > 1 else ""
            raise UserError(f"--train_batch_size={s.train_batch_size} (the global batch) is not "
                            f"divisible by {by}--num_accumulation_steps={s.num_accumulation_steps}")
        return s.train_batch_size // parts

    def run_config(self):
        from bert_tf.estimator import RunConfig
        s = self.settings
        return RunConfig(model_dir=s.output_dir, iterations_per_loop=s.iterations_per_loop,
                         save_checkpoints_steps=s.save_checkpoints_steps,
                         keep_checkpoint_max=s.keep_checkpoint_max,
                         log_every_n_steps=s.display_loss_steps,
                         save_summary_steps=s.save_summary_steps, seed=s.seed,
                         init_checkpoint=s.init_checkpoint)

    def train_params(self, num_train_steps, num_warmup_steps):
        """The optimizer and loss-scaling settings as the Estimator takes them: final, with the
        device's wishes applied here and nowhere else."""
        from bert_tf.estimator.estimator import TrainParams
        from bert_tf.optimization import OptimizerConfig
        s = self.settings
        self.micro_batch_size()  # the batch must divide over workers and micro-batches
        workers = self.strategy.num_replicas if s.scale_lr_by_workers else 1
        clip = 1.0 if s.clip_by_global_norm else 0.0
        optimizer = OptimizerConfig(
            optimizer_type=s.optimizer_type, learning_rate=s.learning_rate * workers,
            num_train_steps=num_train_steps, num_warmup_steps=num_warmup_steps,
            end_learning_rate=s.end_learning_rate, weight_decay_rate=s.weight_decay_rate,
            epsilon=s.adam_epsilon, clip_norm=clip)
        if s.optimizer_type == "thor":
            optimizer = self._thor(optimizer, clip)
        optimizer.validate()
        params = TrainParams(optimizer=optimizer, num_accumulation_steps=s.num_accumulation_steps,
                             loss_scale=s.loss_scale, init_loss_scale=s.init_loss_scale)
        return self.strategy.configure_training(params)

    def _thor(self, optimizer, clip):
        """THOR's settings: its lr power, and its own clip (per tensor, after preconditioning:
        MindSpore's) in place of the global clip of the raw gradients."""
        import dataclasses

        from bert_tf.thor import ThorConfig
        s = self.settings
        thor = ThorConfig(frequency=s.thor_frequency, damping=s.thor_damping,
                          damping_end=s.thor_damping_end, damping_power=s.thor_damping_power,
                          split_dim=s.thor_split_dim, momentum=s.momentum, clip_norm=clip,
                          average=s.thor_average, global_batch_size=s.train_batch_size)
        return dataclasses.replace(optimizer, decay_power=s.thor_lr_power, clip_norm=0.0, thor=thor)

    def estimator(self, task, num_train_steps=None, num_warmup_steps=0):
        """The Estimator for `task`; with `num_train_steps`, ready to train that far."""
        from bert_tf.estimator import Estimator
        params = {"global_batch_size": self.settings.train_batch_size}
        if num_train_steps:
            params["train"] = self.train_params(num_train_steps, num_warmup_steps)
        os.makedirs(self.settings.output_dir, exist_ok=True)
        return Estimator(task, self.run_config(), params, self.strategy)
