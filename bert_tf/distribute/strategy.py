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


class DeviceStrategy:
    """One process on one device: the base every strategy refines."""

    name = "base"
    accepted_options = ()  # device-specific settings (--device_option key=value, Ascend's flags)

    def __init__(self, jit_compile=False, precision="fp32", options=None):
        self.jit_compile = jit_compile
        self.precision = precision
        self.options = dict(options or {})
        unknown = sorted(set(self.options) - set(self.accepted_options))
        if unknown:
            accepted = ", ".join(self.accepted_options) or "none"
            raise UserError(f"--device={self.name} does not take {', '.join(unknown)} "
                            f"(its options: {accepted})")

    # identity and placement
    @property
    def num_replicas(self):
        return 1

    @property
    def rank(self):
        return 0

    @property
    def local_rank(self):
        return 0

    @property
    def is_chief(self):
        return self.rank == 0

    def device_scope(self):
        import contextlib
        return contextlib.nullcontext()

    def input_context(self, sharded=True):
        """Which share of the input this worker reads (all of it when not `sharded`)."""
        return InputContext(self.rank, self.num_replicas) if sharded else InputContext()

    # collective operations (identity on one replica)
    def reduce_gradients(self, grads):
        return grads

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
