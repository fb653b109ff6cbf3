"""The devices `--device` can name: the built-in ones and those of installed plugins.

The registry lives here, above the strategies, so that no two strategy modules import each
other: `strategy.py` is the interface, `local.py` and `horovod.py` implement it, and a
third-party package adds a device through the entry-point group `bert_tf.devices`.
"""

from importlib import metadata

from bert_tf.distribute.local import LocalStrategy
from bert_tf.distribute.strategy import DeviceStrategy
from bert_tf.errors import UserError


def _horovod(**kwargs):
    from bert_tf.distribute.horovod import HorovodStrategy  # imports Horovod: only when asked for
    return HorovodStrategy(**kwargs)


def _tf_distribute(kind):
    def create(**kwargs):
        from bert_tf.distribute.tf_distribute import TFDistributeStrategy
        return TFDistributeStrategy.create(kind, **kwargs)
    return create


_BUILTIN = {"auto": lambda **kw: LocalStrategy("auto", **kw),
            "cpu": lambda **kw: LocalStrategy("cpu", **kw),
            "gpu": lambda **kw: LocalStrategy("gpu", **kw),
            "horovod": _horovod,
            "mirrored": _tf_distribute("mirrored"),
            "multiworker": _tf_distribute("multiworker")}


def available_devices():
    names = dict(_BUILTIN)
    for entry in metadata.entry_points(group="bert_tf.devices"):
        names.setdefault(entry.name, entry)
    return names


def create_strategy(device="auto", **kwargs):
    """The strategy registered under `device` (built in, or from an entry point).

    `kwargs` are the runner's settings every strategy takes (`jit_compile`, `precision`) and
    `options`, the device-specific ones, which the strategy validates.
    """
    devices = available_devices()
    if device not in devices:
        raise UserError(f"--device={device} is unknown; available: {', '.join(sorted(devices))}")
    factory = devices[device]
    if isinstance(factory, metadata.EntryPoint):
        factory = factory.load()
    strategy = factory(**kwargs)
    if not isinstance(strategy, DeviceStrategy):
        raise UserError(f"--device={device}: its entry point did not return a DeviceStrategy")
    return strategy
