"""Horovod data parallelism: the only module that talks to Horovod.

Under Keras 3, Horovod's Keras integration does not average (its DistributedOptimizer runs
inside `fit()` and silently skips the allreduce), so the runner uses `horovod.tensorflow`
directly from its own loop: gradients come out of the XLA-compiled part, are averaged here
with one grouped allreduce (Horovod's allreduce has no XLA kernel), and go back into the
compiled update. Collectives work on plain `tf.Variable`s: a Keras variable is unwrapped to
its `.value` first.
"""

import os

from absl import logging

from bert_tf.distribute.local import visible_gpus
from bert_tf.distribute.strategy import DeviceStrategy
from bert_tf.errors import UserError

# What horovodrun / mpirun / a PMI launcher put in a worker's environment.
LAUNCHER_VARIABLES = ("HOROVOD_RANK", "HOROVOD_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK")
SETUP_HINT = "run scripts/setup.sh (it builds Horovod 0.28.1 against TensorFlow 2.21)"


def import_horovod():
    """horovod.tensorflow, or a clear message when it is missing or built without TensorFlow."""
    try:
        import horovod.tensorflow as hvd
    except ImportError as e:
        raise UserError(f"--horovod needs Horovod with TensorFlow support, which is not "
                        f"importable here ({e}); {SETUP_HINT}") from e
    except Exception as e:  # a build against another TensorFlow fails at load time
        raise UserError(f"Horovod is installed but its TensorFlow extension does not load ({e}); "
                        f"{SETUP_HINT}") from e
    return hvd


def _tf_variable(v):
    """The tf.Variable under a Keras 3 variable (Horovod's collectives need it)."""
    import tensorflow as tf
    return v if isinstance(v, tf.Variable) else v.value


class HorovodStrategy(DeviceStrategy):
    """One process per device, launched by `horovodrun`; Gloo or MPI controller."""

    name = "horovod"
    accepted_options = ("fp16_compression",)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hvd = import_horovod()
        self.hvd.init()
        if self.hvd.size() == 1 and not any(name in os.environ for name in LAUNCHER_VARIABLES):
            logging.warning("--horovod without horovodrun (or mpirun): training as one worker; "
                            "launch with horovodrun -np N ... for N workers")
        self._pin_gpu()
        # allreduce all-gathers tf.IndexedSlices; on CPUs only (bert_tf/distribute/gradients.py)
        self.reduces_sparse_gradients = not visible_gpus()
        self.compression = (self.hvd.Compression.fp16 if self.option_is_set("fp16_compression")
                            else self.hvd.Compression.none)

    def _pin_gpu(self):
        """Each worker sees only its own GPU (local rank), as NVIDIA's scripts do."""
        import tensorflow as tf
        gpus = visible_gpus()
        if gpus:
            tf.config.set_visible_devices(gpus[self.local_rank % len(gpus)], "GPU")

    def describe(self):
        where = f"GPU (local rank {self.local_rank})" if visible_gpus() else "CPU"
        return f"horovod, worker {self.rank} of {self.num_replicas} on its {where}"

    @property
    def num_replicas(self):
        return self.hvd.size()

    @property
    def rank(self):
        return self.hvd.rank()

    @property
    def local_rank(self):
        return self.hvd.local_rank()

    def reduce_gradients(self, grads):
        """Dense gradients in one grouped allreduce; an embedding's slices each all-gathered
        (`allreduce` of tf.IndexedSlices): Horovod 0.28's grouped_allreduce gives slices that
        follow a dense tensor in its list that tensor's dense_shape."""
        from bert_tf.distribute.gradients import is_sparse
        grads = list(grads)
        sparse = [i for i, g in enumerate(grads) if is_sparse(g)]
        dense = [i for i in range(len(grads)) if i not in sparse]
        out = dict(zip(dense, self.hvd.grouped_allreduce([grads[i] for i in dense], op=self.hvd.Average,
                                                         compression=self.compression)))
        out.update((i, self.hvd.allreduce(grads[i], op=self.hvd.Average)) for i in sparse)
        return [out[i] for i in range(len(grads))]

    def reduce_mean(self, tensors):
        return self.hvd.grouped_allreduce(list(tensors), op=self.hvd.Average)

    def broadcast(self, variables):
        self.hvd.broadcast_variables([_tf_variable(v) for v in variables], root_rank=0)

    def reduce_metrics(self, values):
        """Scalars (loop logs) are averaged over workers; (total, count) pairs are summed."""
        import tensorflow as tf
        names = sorted(values)
        pairs = [n for n in names if isinstance(values[n], tuple)]
        scalars = [n for n in names if not isinstance(values[n], tuple)]
        out = {}
        if scalars:
            mean = self.hvd.allreduce(tf.constant([float(values[n]) for n in scalars], tf.float64),
                                      op=self.hvd.Average, name="reduce_scalars").numpy()
            out.update(zip(scalars, (float(x) for x in mean)))
        if pairs:
            sums = self.hvd.allreduce(tf.constant([values[n] for n in pairs], tf.float64),
                                      op=self.hvd.Sum, name="reduce_pairs").numpy()
            out.update((n, (float(t), float(c))) for n, (t, c) in zip(pairs, sums))
        return out

    def barrier(self):
        import tensorflow as tf
        self.hvd.allreduce(tf.constant(0.0), op=self.hvd.Sum, name="barrier")
