"""tf.distribute behind the device hook: `--device=mirrored` and `--device=multiworker`, and any
vendor's own `tf.distribute.Strategy` (how NPU vendors ship theirs) wrapped the same way.

- `mirrored`: `MirroredStrategy` over the visible GPUs of this host, one process; on a machine
  without GPUs over N logical CPU devices (`--device_option=logical_devices=N`, how it is
  tested here). One input pipeline; each step's batch is cut into one share per device.
- `multiworker`: `MultiWorkerMirroredStrategy` from `TF_CONFIG` (one process per host or per
  GPU; gRPC ring collectives, NCCL on GPUs); each worker has its own input pipeline.
  `scripts/run_pretraining_multiworker.sh` starts N local workers with their `TF_CONFIG`.

The semantics are Horovod's: `--train_batch_size` is global, gradients are averaged once per
optimizer step (`all_reduce` in replica context, outside the XLA-compiled gradient function,
after the accumulated micro-batches), only the chief writes, each worker keeps its own input
position for exact resume. The optimizer step runs in each device's update context
(`extended.update`), so our optimizer updates the mirrored variables without knowing they
are mirrored. A killed worker fails the others' collectives (TensorFlow's coordination
service stops getting its heartbeats, within seconds) instead of hanging them.
"""

import json
import os
import signal
import threading

from absl import logging

from bert_tf.distribute.strategy import DeviceStrategy, reject_unknown_options, yes_no
from bert_tf.errors import UserError


# The gradients' all-reduce travels in packs of this size: 8 MiB measured best on CPUs
# (docs/benchmarks.md, "Multi-worker scaling": none 26.9% of a step, 8 MiB 14.5%, one pack 24%)
GRADIENT_PACK_BYTES = 8 << 20


class TFDistributeStrategy(DeviceStrategy):
    compiles_whole_steps = False
    accepted_options = ("fp16_compression",)

    # THOR's state lives outside the replicas' context; its averaging is Horovod's or none
    averages_between_steps = False

    def __init__(self, tf_strategy, name="tf_distribute", sparse_gradients=False, **kwargs):
        """sparse_gradients: whether an embedding's rows may travel as tf.IndexedSlices (the
        built-in kinds, on CPUs only: gradients.py); a vendor's strategy gets dense tensors."""
        from bert_tf.distribute.gradients import on_cpus
        self.name = name
        super().__init__(**kwargs)
        self.tf_strategy = tf_strategy
        self.reduces_sparse_gradients = sparse_gradients and on_cpus(tf_strategy.extended.worker_devices)
        self.fp16_compression = self.option_is_set("fp16_compression")
        resolver = getattr(tf_strategy, "cluster_resolver", None)
        self._rank, self._workers = 0, 1
        if resolver is not None and resolver.cluster_spec().as_dict():
            self._rank = resolver.task_id or 0
            self._workers = len(resolver.cluster_spec().as_dict().get("worker", [None]))

    # ------------------------------------------------------------------ the built-in kinds
    @classmethod
    def create(cls, kind, options=None, **kwargs):
        options = dict(options or {})
        # checked before any server starts (the constructor checks again, for wrapped strategies)
        reject_unknown_options(kind, options, (("logical_devices",) if kind == "mirrored" else ())
                               + cls.accepted_options)
        yes_no("fp16_compression", options.get("fp16_compression", False))
        if kind == "mirrored":
            tf_strategy = _mirrored(options.pop("logical_devices", None))
        else:
            tf_strategy = _multiworker()
        return cls(tf_strategy, name=kind, options=options, sparse_gradients=True, **kwargs)

    # ------------------------------------------------------------------ identity
    @property
    def num_replicas(self):
        return self.tf_strategy.num_replicas_in_sync

    @property
    def num_workers(self):
        return self._workers

    @property
    def rank(self):
        return self._rank

    @property
    def local_replicas(self):
        return self.num_replicas // self.num_workers

    def describe(self):
        devices = self.tf_strategy.extended.worker_devices
        return f"{self.name} over {', '.join(devices)} (worker {self.rank} of {self.num_workers})"

    def scope(self):
        return self.tf_strategy.scope()

    # ------------------------------------------------------------------ a training step
    def distribute_batch(self, batch):
        """This worker's batch, cut into one share of rows per local replica, in order."""
        local = self.local_replicas
        if local == 1:
            return self.tf_strategy.experimental_distribute_values_from_function(lambda ctx: batch)
        import tensorflow as tf

        def share(ctx):
            index = ctx.replica_id_in_sync_group - self.rank * local
            return tf.nest.map_structure(lambda t: tf.split(t, local)[index], batch)
        return self.tf_strategy.experimental_distribute_values_from_function(share)

    def run(self, fn, args):
        return self.tf_strategy.run(fn, args=args)

    def update(self, anchor, fn, args):
        out = self.tf_strategy.extended.update(_tf_variable(anchor), lambda _, *a: fn(*a), args=args,
                                               group=False)
        return _first_device(out)

    @property
    def gradient_divisor(self):
        # float16 on the way: divided after the sum, as Horovod does (dividing first would
        # push small gradients further into float16's underflow)
        return 1 if self.fp16_compression else self.num_replicas

    def reduce_gradients(self, grads):
        """One all-reduce that sums gradients already divided by the replica count (in the
        compiled gradient function: `gradient_divisor`), so the sum is the mean without a
        division pass inside the collective. Exact for a power-of-two replica count;
        otherwise within a rounding of the mean.

        The gradients travel in packs of GRADIENT_PACK_BYTES: without a pack size each tensor
        is its own collective (on CPUs a round of gRPC calls each). With `fp16_compression`
        (`--hvd_fp16_compression`, as Horovod's `Compression.fp16`) float32 gradients are
        sent and summed as float16 (half the bytes), then divided by the replica count in
        float32. An embedding's slices (`bert_tf.distribute.gradients`) are all-gathered as
        they are, uncompressed."""
        import tensorflow as tf

        from bert_tf.distribute.gradients import divided
        options = tf.distribute.experimental.CommunicationOptions(bytes_per_pack=GRADIENT_PACK_BYTES)
        grads = list(grads)
        sent = [tf.cast(g, tf.float16) if self._compressed(g) else g for g in grads]
        summed = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, sent,
                                                                options=options)
        if not self.fp16_compression:
            return summed
        return [divided(tf.cast(s, g.dtype) if self._compressed(g) else s, self.num_replicas)
                for s, g in zip(summed, grads)]

    def _compressed(self, gradient):
        import tensorflow as tf
        from bert_tf.distribute.gradients import is_sparse
        return self.fp16_compression and gradient.dtype == tf.float32 and not is_sparse(gradient)

    def replica_mean(self, values):
        import tensorflow as tf
        return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.MEAN, values)

    # ------------------------------------------------------------------ host-side collectives
    def _sum_over_workers(self, values):
        """[float] summed over the workers (a collective every worker must join); run eagerly:
        host-side values carry no device for a traced collective to reduce them to."""
        import tensorflow as tf
        strategy = self.tf_strategy
        x = tf.constant(values, tf.float64)
        local = strategy.experimental_distribute_values_from_function(lambda ctx: x)
        summed = strategy.run(lambda v: tf.distribute.get_replica_context().all_reduce(
            tf.distribute.ReduceOp.SUM, v), args=(local,))
        summed = strategy.experimental_local_results(summed)[0].numpy()
        return [float(v) / self.local_replicas for v in summed]

    def reduce_metrics(self, values):
        """Scalars were averaged inside the step; (total, count) pairs are summed over workers."""
        if self.num_workers == 1:
            return values
        pairs = sorted(k for k, v in values.items() if isinstance(v, tuple))
        out = dict(values)
        if pairs:
            sums = self._sum_over_workers([x for k in pairs for x in values[k]])
            out.update((k, (sums[2 * i], sums[2 * i + 1])) for i, k in enumerate(pairs))
        return out

    def barrier(self):
        if self.num_workers > 1:
            self._sum_over_workers([0.0])


def _tf_variable(variable):
    import tensorflow as tf
    return variable if isinstance(variable, tf.Variable) else variable.value


def _first_device(out):
    """`extended.update(..., group=False)` gives each leaf once per device: the first copy."""
    if isinstance(out, dict):
        return {k: _first_device(v) for k, v in out.items()}
    if isinstance(out, (tuple, list)):
        return out[0]
    return out


def _mirrored(logical_devices):
    """MirroredStrategy over the visible GPUs, or over N logical CPU devices."""
    import tensorflow as tf
    gpus = tf.config.list_physical_devices("GPU")
    if logical_devices is not None:
        try:
            count = int(logical_devices)
        except ValueError:
            count = 0
        if count < 1:
            raise UserError(f"--device_option=logical_devices={logical_devices}: a positive count")
        if gpus:
            raise UserError("--device_option=logical_devices is for machines without a GPU: "
                            "--device=mirrored uses every visible GPU (CUDA_VISIBLE_DEVICES picks them)")
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
        except RuntimeError as e:
            raise UserError(f"--device_option=logical_devices={count}: TensorFlow had already started "
                            f"({e})") from e
        return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(count)])
    if not gpus:
        logging.warning("--device=mirrored on a machine without a GPU: one replica on the CPU "
                        "(--device_option=logical_devices=N splits the CPU into N)")
        return tf.distribute.MirroredStrategy(["/cpu:0"])
    return tf.distribute.MirroredStrategy()


def _multiworker():
    """MultiWorkerMirroredStrategy from TF_CONFIG: ring collectives, NCCL on GPUs."""
    task, address = _cluster_from_tf_config()
    import tensorflow as tf
    implementation = tf.distribute.experimental.CommunicationImplementation
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=implementation.NCCL if tf.config.list_physical_devices("GPU") else implementation.RING)
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    except tf.errors.OpError as e:
        raise UserError(_join_failure(task, address, e.message)) from e
    _let_sigterm_end_the_process()
    return strategy


def _cluster_from_tf_config():
    """(this task, as "worker 1", and its host:port), every address checked before any server starts."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        raise UserError("--device=multiworker needs TF_CONFIG (the cluster and this worker's index); "
                        "scripts/run_pretraining_multiworker.sh sets it for local workers")
    try:
        config = json.loads(text)
        task_type = config["task"].get("type", "worker")
        if task_type not in ("worker", "chief"):
            raise ValueError(f"task.type {task_type!r} is not worker or chief")
        tasks = config["cluster"][task_type]
        index = int(config["task"]["index"])
        if not 0 <= index < len(tasks):
            raise ValueError(f"task.index outside cluster.{task_type}")
        jobs = {job: list(config["cluster"].get(job, [])) for job in ("chief", "worker")}
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise UserError(f"TF_CONFIG is not a cluster spec of workers ({e}): expected "
                        '{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": i}}') from e
    for job, addresses in jobs.items():
        for i, address in enumerate(addresses):
            host, _, port = str(address).rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise UserError(f"TF_CONFIG: {job} {i}'s address {address!r} is not host:port "
                                "with a port from 1 to 65535")
    return f"{task_type} {index}", tasks[index]


def _join_failure(task, address, message):
    """One line for a task whose gRPC server or cluster connection could not start."""
    line = f"TF_CONFIG: {task} ({address}) could not start: {message.strip().splitlines()[0]}"
    if "Could not start gRPC server" in message:
        port = address.rpartition(":")[2]
        line += (f"; port {port} is in use or not allowed on this host: choose a free port "
                 "(scripts/run_pretraining_multiworker.sh: PORT=the first of N free ports)")
    return line


def _let_sigterm_end_the_process():
    """TensorFlow's coordination service catches SIGTERM in C++ and only notes it (for its
    preemption notices, which we do not use), so a worker outside the training loop would
    ignore `kill`, a launcher's stop or a scheduler's. The default again: SIGTERM ends the
    process, as on every other device; during training `estimator/preemption.py` handles it."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
