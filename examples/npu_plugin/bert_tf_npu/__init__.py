"""A reference NPU-like device for bert_tf, registered under the entry point `bert_tf.devices`
as `npu` (and `npu_mirrored`: a vendor's own tf.distribute strategy behind the same hook). It shows every hook a vendor's runtime fills in (see bert_tf's docs/devices.md):
rank discovery from the Ascend environment, precision mode, loss scaling and clipping, loop
sinking, placement, and collectives.
"""

import contextlib
import dataclasses
import json
import os

from bert_tf.distribute.strategy import DeviceStrategy, InputContext
from bert_tf.errors import UserError

# Ascend's precision_mode -> bert_tf's precision (its mixed precision is float16).
PRECISION_MODES = {
    "allow_mix_precision": "fp16",
    "allow_fp32_to_fp16": "fp16",
    "force_fp16": "fp16",
    "must_keep_origin_dtype": "fp32",
    "allow_mix_precision_bf16": "bf16",
}


@dataclasses.dataclass
class RankInfo:
    rank_id: int = 0
    rank_size: int = 1
    device_id: int = 0


def _int_env(env, name, default):
    value = env.get(name, "")
    if value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise UserError(f"{name}={value!r} is not an integer") from None


def read_rank_table(path):
    """Ascend's rank table (version 1.0): rank_id -> (server_id, device_id)."""
    try:
        with open(path, encoding="utf-8") as f:
            table = json.load(f)
        ranks = {}
        for server in table["server_list"]:
            for device in server["device"]:
                ranks[int(device["rank_id"])] = (server.get("server_id", ""), int(device["device_id"]))
    except FileNotFoundError:
        raise UserError(f"RANK_TABLE_FILE={path}: no such file") from None
    except (ValueError, KeyError, TypeError) as e:
        raise UserError(f"RANK_TABLE_FILE={path}: not an Ascend rank table "
                        f"(server_list[].device[] with rank_id and device_id): {e}") from None
    if table.get("status", "completed") != "completed":
        raise UserError(f"RANK_TABLE_FILE={path}: status is {table.get('status')!r}, not 'completed'")
    return ranks


def discover_ranks(env=None):
    """This process's rank from RANK_ID, RANK_SIZE, DEVICE_ID and RANK_TABLE_FILE."""
    env = os.environ if env is None else env
    info = RankInfo(_int_env(env, "RANK_ID", 0), _int_env(env, "RANK_SIZE", 1), 0)
    info.device_id = _int_env(env, "DEVICE_ID", info.rank_id)
    if not 0 <= info.rank_id < info.rank_size:
        raise UserError(f"RANK_ID={info.rank_id} is outside RANK_SIZE={info.rank_size}")
    if info.rank_size > 1:
        path = env.get("RANK_TABLE_FILE")
        if not path:
            raise UserError(f"RANK_SIZE={info.rank_size} needs RANK_TABLE_FILE (the rank table)")
        ranks = read_rank_table(path)
        if sorted(ranks) != list(range(info.rank_size)):
            raise UserError(f"RANK_TABLE_FILE={path} lists ranks {sorted(ranks)}, "
                            f"not 0..{info.rank_size - 1} (RANK_SIZE={info.rank_size})")
        table_device = ranks[info.rank_id][1]
        if "DEVICE_ID" in env and table_device != info.device_id:
            raise UserError(f"DEVICE_ID={info.device_id} but RANK_TABLE_FILE={path} gives rank "
                            f"{info.rank_id} device {table_device}")
        info.device_id = table_device
    return info


class NpuStrategy(DeviceStrategy):
    name = "npu"
    # Ascend's own settings; its NPU-only switches (TDT, debug, fused gelu, NPU dropout) are
    # taken as options too and recorded (a real runtime would configure its session with them).
    accepted_options = ("precision_mode", "npu_bert_loss_scale", "npu_bert_clip_by_global_norm",
                        "npu_bert_use_tdt", "npu_bert_debug", "npu_bert_fused_gelu", "npu_bert_npu_dropout")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.info = discover_ranks()
        mode = self.options.get("precision_mode")
        if mode is not None:
            if mode not in PRECISION_MODES:
                raise UserError(f"--precision_mode={mode} is unknown; known: {', '.join(PRECISION_MODES)}")
            self.precision = PRECISION_MODES[mode]
        self._collectives = self._collective_runtime()
        switches = {k: v for k, v in self.options.items() if k.startswith("npu_bert_") and k not in (
            "npu_bert_loss_scale", "npu_bert_clip_by_global_norm")}
        _trace("init", rank_id=self.info.rank_id, rank_size=self.info.rank_size,
               device_id=self.info.device_id, precision=self.precision, **({"switches": switches} if switches else {}))

    def _collective_runtime(self):
        """HCCL on a real NPU; this reference plugin borrows Horovod's transport."""
        if self.info.rank_size == 1:
            return None
        from bert_tf.distribute.horovod import HorovodStrategy
        runtime = HorovodStrategy(jit_compile=self.jit_compile, precision=self.precision)
        if (runtime.num_replicas, runtime.rank) != (self.info.rank_size, self.info.rank_id):
            raise UserError(f"RANK_ID={self.info.rank_id}/RANK_SIZE={self.info.rank_size} disagree "
                            f"with the launcher's rank {runtime.rank} of {runtime.num_replicas}")
        return runtime

    # identity and placement
    @property
    def num_replicas(self):
        return self.info.rank_size

    @property
    def rank(self):
        return self.info.rank_id

    @property
    def local_rank(self):
        return self.info.device_id

    def device_scope(self):
        import tensorflow as tf
        npus = tf.config.list_logical_devices("NPU")
        name = f"/NPU:{self.info.device_id % len(npus)}" if npus else "/CPU:0"
        _trace("device_scope", device=name)
        return tf.device(name)

    def input_context(self, sharded=True):
        _trace("input_context", sharded=sharded)
        return InputContext(self.rank, self.num_replicas) if sharded else InputContext()

    # compilation, precision, loss scaling
    def compile_loop(self, loop_fn):
        """Loop sinking: `iterations_per_loop` steps run in one device call."""
        import tensorflow as tf
        _trace("compile_loop")
        return tf.function(loop_fn)

    def dtype_policy(self):
        _trace("dtype_policy", precision=self.precision)
        return super().dtype_policy()

    def configure_training(self, train_params):
        """npu_bert_loss_scale (0 dynamic, >= 1 static, -1 off), npu_bert_clip_by_global_norm."""
        changes = {}
        if "npu_bert_loss_scale" in self.options:
            scale = float(self.options["npu_bert_loss_scale"])
            if not (scale in (0.0, -1.0) or scale >= 1.0):
                raise UserError(f"--npu_bert_loss_scale={scale:g}: 0 dynamic, >= 1 static, -1 off")
            changes["loss_scale"] = scale
        if "npu_bert_clip_by_global_norm" in self.options:
            clip = self.option_is_set("npu_bert_clip_by_global_norm")
            changes["optimizer"] = dataclasses.replace(train_params.optimizer, clip_norm=1.0 if clip else 0.0)
        _trace("configure_training", **{k: (v if k == "loss_scale" else "set") for k, v in changes.items()})
        return dataclasses.replace(train_params, **changes)

    # collectives
    def reduce_gradients(self, grads):
        _trace("reduce_gradients", count=len(grads))
        return self._collectives.reduce_gradients(grads) if self._collectives else grads

    def broadcast(self, variables):
        _trace("broadcast", count=len(variables))
        if self._collectives:
            self._collectives.broadcast(variables)

    def reduce_metrics(self, values):
        _trace("reduce_metrics")
        return self._collectives.reduce_metrics(values) if self._collectives else values

    def barrier(self):
        _trace("barrier")
        if self._collectives:
            self._collectives.barrier()


def _trace(hook, **details):
    """Append one JSON line per hook call to $BERT_TF_NPU_TRACE (for tests and debugging)."""
    path = os.environ.get("BERT_TF_NPU_TRACE")
    if path:
        with contextlib.suppress(OSError), open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"hook": hook, **details}) + "\n")


def create_strategy(**kwargs):
    """The entry point bert_tf calls for --device=npu."""
    return NpuStrategy(**kwargs)


def create_mirrored_strategy(**kwargs):
    """The entry point for --device=npu_mirrored: how a vendor that ships its own
    `tf.distribute.Strategy` plugs it in. bert_tf's `TFDistributeStrategy` wraps any such
    strategy (its scope, run, all-reduce and update); here a MirroredStrategy over the NPUs
    TensorFlow sees as a PluggableDevice, or over the CPU when there is none."""
    import tensorflow as tf

    from bert_tf.distribute.tf_distribute import TFDistributeStrategy
    npus = [d.name for d in tf.config.list_logical_devices("NPU")]
    _trace("mirrored", devices=npus or ["/cpu:0"])
    return TFDistributeStrategy(tf.distribute.MirroredStrategy(npus or ["/cpu:0"]), name="npu_mirrored",
                                **kwargs)
