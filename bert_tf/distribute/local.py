"""One process on this machine: the built-in `auto` (the default), `cpu` and `gpu` devices."""

from bert_tf.distribute.strategy import DeviceStrategy
from bert_tf.errors import UserError


def choose_device(gpus):
    """--device=auto: the GPU when TensorFlow sees one (`gpus`: its physical GPU list), else
    the CPU."""
    return "gpu" if gpus else "cpu"


def visible_gpus():
    import tensorflow as tf
    return tf.config.list_physical_devices("GPU")


class LocalStrategy(DeviceStrategy):
    """One process, on the CPU or the first GPU; `auto` picks the GPU when there is one."""

    def __init__(self, device_type="auto", **kwargs):
        self.name = device_type
        self.device_type = choose_device(visible_gpus()) if device_type == "auto" else device_type
        super().__init__(**kwargs)

    def describe(self):
        chosen = f" (auto: {'a GPU is visible' if self.device_type == 'gpu' else 'no GPU visible'})"
        return self.device_type + (chosen if self.name == "auto" else "")

    def device_scope(self):
        import tensorflow as tf
        if self.device_type == "gpu":
            if not visible_gpus():
                raise UserError("--device=gpu: TensorFlow sees no GPU on this machine; use --device=cpu "
                                "(or the default --device=auto)")
            return tf.device("/GPU:0")
        return tf.device("/CPU:0")
