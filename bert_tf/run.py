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
                                        precision=settings.precision, options=settings.device_options,
                                        vendor_options=settings.vendor_options)
        logging.info("device: %s; %d replica(s) in %d worker(s), %s%s", self.strategy.describe(),
                     self.strategy.num_replicas, self.strategy.num_workers, self.strategy.precision,
                     ", XLA" if settings.use_xla else "")

    def bert_config(self, max_seq_length):
        """The model's config, checked against the sequence length the run feeds it."""
        config = BertConfig.from_json_file(self.settings.bert_config_file)
        config.check_seq_length(max_seq_length)
        return config

    def worker_batch_size(self):
        """The batch this worker's input pipeline yields for one optimizer step: the global
        batch over the workers. It must divide into the replicas' micro-batches: global /
        (replicas x accumulation steps) sequences each; a worker with several devices cuts its
        batch into one share per device, accumulation into k consecutive micro-batches."""
        s = self.settings
        if s.train_batch_size < 1:
            raise UserError(f"--train_batch_size={s.train_batch_size} must be at least 1 (the "
                            "global batch)")
        if s.num_accumulation_steps < 1:
            raise UserError(f"--num_accumulation_steps={s.num_accumulation_steps} must be at least 1")
        replicas = self.strategy.num_replicas
        if s.train_batch_size % (replicas * s.num_accumulation_steps):
            by = f"{replicas} replica(s) x " if replicas > 1 else ""
            raise UserError(f"--train_batch_size={s.train_batch_size} (the global batch) is not "
                            f"divisible by {by}--num_accumulation_steps={s.num_accumulation_steps}")
        return s.train_batch_size // self.strategy.num_workers

    def buckets(self, task, is_training):
        """How `task`'s training (or inference) input is batched by length: a
        `bucketing.BucketSpec`, or None for Google's padding to --max_seq_length."""
        from bert_tf.bucketing import BucketSpec
        if not self.settings.bucketed(is_training):
            return None
        return BucketSpec(task.max_seq_length, task.sequence_fields(is_training),
                          self.settings.bucket_boundaries)

    def run_config(self, run_settings=None):
        from bert_tf.estimator import RunConfig
        s = self.settings
        return RunConfig(model_dir=s.output_dir, iterations_per_loop=s.iterations_per_loop,
                         save_checkpoints_steps=s.save_checkpoints_steps,
                         keep_checkpoint_max=s.keep_checkpoint_max,
                         log_every_n_steps=s.display_loss_steps,
                         save_summary_steps=s.save_summary_steps, seed=s.seed,
                         init_checkpoint=s.init_checkpoint, run_settings=run_settings,
                         nan_policy=s.nan_policy, dllog_path=s.dllog_path)

    def run_settings(self, bert_config, num_train_steps, input_files, **shape):
        """What a resume depends on (recorded beside the checkpoints, compared on resume):
        the batch, the model, the optimizer, the replicas, the input and its shape, the
        schedule. See estimator.checkpointing.RunRecord."""
        s = self.settings
        return {"train_batch_size": s.train_batch_size, "num_accumulation_steps": s.num_accumulation_steps,
                "optimizer_type": s.optimizer_type, "num_replicas": self.strategy.num_replicas,
                "bert_config": bert_config.to_dict(), "num_train_steps": num_train_steps,
                "learning_rate": s.learning_rate, "input_files": [os.path.abspath(f) for f in input_files],
                **shape}

    def train_params(self, num_train_steps, num_warmup_steps):
        """The optimizer and loss-scaling settings as the Estimator takes them: final, with the
        device's wishes applied here and nowhere else."""
        from bert_tf.estimator.estimator import TrainParams
        from bert_tf.optimization import OptimizerConfig
        s = self.settings
        self.worker_batch_size()  # the batch must divide over replicas and micro-batches
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
        if not self.strategy.averages_between_steps:
            raise UserError(f"--optimizer_type=thor runs on one device or on several under Horovod "
                            f"(--device=horovod), not with --device={self.strategy.name}")
        thor = ThorConfig(frequency=s.thor_frequency, damping=s.thor_damping,
                          damping_end=s.thor_damping_end, damping_power=s.thor_damping_power,
                          split_dim=s.thor_split_dim, momentum=s.momentum, clip_norm=clip,
                          average=s.thor_average, global_batch_size=s.train_batch_size)
        return dataclasses.replace(optimizer, decay_power=s.thor_lr_power, clip_norm=0.0, thor=thor)

    def estimator(self, task, num_train_steps=None, num_warmup_steps=0, run_settings=None):
        """The Estimator for `task`; with `num_train_steps`, ready to train that far."""
        from bert_tf.estimator import Estimator
        params = {"global_batch_size": self.settings.train_batch_size}
        if num_train_steps:
            params["train"] = self.train_params(num_train_steps, num_warmup_steps)
        os.makedirs(self.settings.output_dir, exist_ok=True)
        return Estimator(task, self.run_config(run_settings), params, self.strategy)
