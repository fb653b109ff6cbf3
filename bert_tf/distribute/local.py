"""One process on this machine's CPU or GPU: the built-in `cpu` and `gpu` devices."""

from bert_tf.distribute.strategy import DeviceStrategy
from bert_tf.errors import UserError


class LocalStrategy(DeviceStrategy):
    """One process, CPU or GPU (TensorFlow places ops on the GPU when one is visible)."""

    def __init__(self, device_type="cpu", **kwargs):
        self.name = device_type
        self.device_type = device_type
        super().__init__(**kwargs)

    def device_scope(self):
        import tensorflow as tf
        if self.device_type == "gpu":
            if not tf.config.list_physical_devices("GPU"):
                raise UserError("--device=gpu: TensorFlow sees no GPU on this machine; use --device=cpu")
            return tf.device("/GPU:0")
        return tf.device("/CPU:0")
