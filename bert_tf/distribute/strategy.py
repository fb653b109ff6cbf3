"""DeviceStrategy: the one place that knows about replicas, ranks and accelerator runtimes.

The rest of the code asks the strategy: `is_chief`, `num_replicas`, `input_context()` (its
share of the input), `reduce_gradients(grads)`, `broadcast(variables)`, `reduce_metrics(values)`,
how to compile (`jit_compile`), which precision policy to use. This module is the interface;
the built-in devices live beside it (`local.py`, `horovod.py`) and the registry that names them
in `bert_tf/distribute/__init__.py`.
"""

import dataclasses

from bert_tf.errors import UserError


@dataclasses.dataclass
class InputContext:
    """What an input_fn needs to know about its worker: which share of the input is its own."""

    input_pipeline_id: int = 0
    num_input_pipelines: int = 1

    def shard_files(self, files):
        """This worker's files (file-level sharding: each worker reads whole, disjoint files)."""
        if self.num_input_pipelines == 1:
            return list(files)
        if len(files) < self.num_input_pipelines:
            raise UserError(f"{len(files)} input file(s) for {self.num_input_pipelines} workers: "
                            "each worker needs at least one file; write more shards "
                            "(create_pretraining_data.py --output_dir --num_output_shards) or shard "
                            "by record (--shard_by_record)")
        return list(files)[self.input_pipeline_id::self.num_input_pipelines]

    def shard_records(self, dataset):
        """This worker's records of a tf.data.Dataset (record-level sharding)."""
        if self.num_input_pipelines == 1:
            return dataset
        return dataset.shard(self.num_input_pipelines, self.input_pipeline_id)


def reject_unknown_options(device, options, accepted):
    """A device option the device does not list is an error, never silently ignored."""
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise UserError(f"--device={device} does not take {', '.join(unknown)} "
                        f"(its options: {', '.join(accepted) or 'none'})")


def yes_no(name, value):
    """A yes/no device option: a bool from a flag, or true/yes/1 and false/no/0 from
    --device_option (a string that is neither is an error, never a silent True)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1", "false", "no", "0"):
        return text in ("true", "yes", "1")
    raise UserError(f"--device_option={name}={value}: expected true or false")


class DeviceStrategy:
    """One process on one device: the base every strategy refines.

    A training step is `update(anchor, apply, run(replica_step, distribute_batch(batch)))`:
    `run` computes each replica's gradients (in its replica context), `reduce_gradients` and
    `replica_mean` average them and the logs over the replicas there, and `update` applies
    the averaged gradients to the (possibly mirrored) variables. On one device all of it is
    a plain call; Horovod averages in `reduce_gradients`; a tf.distribute strategy
    (`tf_distribute.py`) maps each hook onto its `run` / `all_reduce` / `extended.update`.
    """

    name = "base"
    accepted_options = ()  # device-specific settings (--device_option key=value, Ascend's flags)
    # Whether a loop's steps may run inside one compiled function on stacked batches (the
    # Estimator's 10-steps-per-launch path): not where a step spans devices (tf.distribute).
    compiles_whole_steps = True

    def __init__(self, jit_compile=False, precision="fp32", options=None, vendor_options=None):
        self.jit_compile = jit_compile
        self.precision = precision
        self.options = dict(options or {})
        vendor_options = dict(vendor_options or {})
        self.options.update((k, v) for k, v in vendor_options.items() if k in self.accepted_options)
        ignored = sorted(set(vendor_options) - set(self.accepted_options))
        if ignored:
            from absl import logging
            logging.info("--%s: %s of another device; they change nothing on --device=%s",
                         ", --".join(ignored), "switches" if len(ignored) > 1 else "a switch", self.name)
        reject_unknown_options(self.name, self.options, self.accepted_options)

    def option_is_set(self, name):
        """A yes/no option (see `yes_no`); False when not given."""
        return yes_no(name, self.options.get(name, False))

    # identity and placement
    @property
    def num_replicas(self):
        """Replicas that each compute a share of the global batch (devices, over all workers)."""
        return 1

    @property
    def num_workers(self):
        """Processes, each with its own input pipeline (one replica each, unless a worker drives
        several devices, as tf.distribute's MirroredStrategy does)."""
        return self.num_replicas

    @property
    def rank(self):
        return 0

    @property
    def local_rank(self):
        return 0

    @property
    def is_chief(self):
        return self.rank == 0

    def describe(self):
        """The device as the start-up log names it."""
        return self.name

    def device_scope(self):
        import contextlib
        return contextlib.nullcontext()

    def scope(self):
        """Where the model's and the optimizer's variables are created and steps are traced."""
        return self.device_scope()

    def input_context(self, sharded=True):
        """Which share of the input this worker reads (all of it when not `sharded`)."""
        return InputContext(self.rank, self.num_workers) if sharded else InputContext()

    # a training step
    def distribute_batch(self, batch):
        """This worker's batch -> each of its replicas' share (the rows in replica order)."""
        return batch

    def run(self, fn, args):
        """`fn(*args)` in each replica's context; per-replica results."""
        return fn(*args)

    def update(self, anchor, fn, args):
        """`fn(*args)` where the variables may be updated (in each device's update context
        for mirrored variables; `anchor` is one of them); one device's result."""
        return fn(*args)

    # collective operations (identity on one replica)
    @property
    def gradient_divisor(self):
        """What the compiled gradient function divides each replica's gradients by before
        `reduce_gradients`: 1 where the reduction averages; a strategy whose reduction sums
        returns its replica count, so the mean costs no pass of its own (XLA fuses the
        division into the gradients' last one)."""
        return 1

    def reduce_gradients(self, grads):
        """Gradients averaged over the replicas (called in replica context, inside `run`),
        given each replica's gradients divided by `gradient_divisor`."""
        return grads

    # whether reduce_gradients takes tf.IndexedSlices (an embedding's gradient, sent as rows:
    # bert_tf/distribute/gradients.py); a strategy that says no is given dense tensors only.
    # Horovod and the built-in tf.distribute kinds say yes on CPUs.
    reduces_sparse_gradients = False

    def replica_mean(self, values):
        """Step logs averaged over the replicas inside the step (replica context); strategies
        that average the logs on the host afterwards (`reduce_metrics`) leave them."""
        return values

    # whether reduce_mean works between steps (outside the replicas' context): THOR needs it
    averages_between_steps = True

    def reduce_mean(self, tensors):
        """Tensors averaged over workers at full precision (THOR's factors or inverses)."""
        return list(tensors)

    def broadcast(self, variables):
        return None

    def reduce_metrics(self, values):
        """Scalars (loop logs) averaged over workers, (total, count) pairs summed."""
        return values

    def barrier(self):
        """Wait for every worker (before the chief saves a checkpoint)."""

    def any_worker(self, flag):
        """Whether `flag` is true on any worker (all workers call it: a stop request)."""
        total, _ = self.reduce_metrics({"flag": (float(bool(flag)), 1.0)})["flag"]
        return total > 0

    # compilation, precision and loss scaling
    def compile_loop(self, loop_fn):
        """The function that runs `iterations_per_loop` steps in one call (a vendor's loop
        sinking goes here); the steps inside are XLA-compiled when `jit_compile`."""
        import tensorflow as tf
        return tf.function(loop_fn)

    def dtype_policy(self):
        return {"fp32": "float32", "fp16": "mixed_float16", "bf16": "mixed_bfloat16"}[self.precision]

    def configure_training(self, train_params):
        """The training settings as this device wants them (loss scaling, clipping)."""
        return train_params
