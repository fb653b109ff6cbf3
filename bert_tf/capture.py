"""What a second-order optimizer needs from the model's layers, recorded only when it asks.

THOR (bert_tf/thor.py) preconditions each dense layer with factors built from the layer's
input X and the gradient dZ of the loss at its pre-bias output Z = X @ W, and each embedding
table with the token counts of its lookup and the gradient of the lookup's output. The layers
report these tensors here (`dense`, `embedding`), and nothing happens unless a `Probe` is
active: the switch is read while a step function is *traced*, so a step traced without a
probe (AdamW, LAMB, THOR's ordinary steps, evaluation) is the same graph as if this module
did not exist. The tape that computes the weights' gradients also takes the gradients with
respect to the recorded outputs (`outputs`, `take_output_gradients`): no second backward pass.

No TensorFlow import here: the records are plain holders of the traced tensors.
"""

import contextlib
import dataclasses

_probe = None  # the active Probe while a capturing step is traced


@dataclasses.dataclass
class DenseRecord:
    """One matmul Z = X @ W (or X @ Wᵀ when `transposed`: Google's [outputs, inputs] layout).

    `kernels` holds one variable, or several whose outputs are concatenated along Z's last
    axis in equal widths (the fused Q/K/V matmul: one X, so one A; one G per slice)."""

    kernels: list
    inputs: object
    output: int  # index into Probe.outputs
    transposed: bool = False


@dataclasses.dataclass
class EmbeddingRecord:
    """A lookup of `table` rows by `ids` (flat) whose result's gradient is that of `output`,
    one row per id. `ids` None: positions, rows 0..T-1 of the table for every sequence of the
    batch, so `output` has batch x T rows."""

    table: object
    ids: object
    output: int


class Probe:
    """Collects the records of one traced forward pass, then the output gradients."""

    def __init__(self):
        self.dense = []
        self.embeddings = []
        self.outputs = []
        self.output_gradients = None
        self._seen = set()

    def _output_index(self, tensor):
        for i, known in enumerate(self.outputs):
            if known is tensor:
                return i
        self.outputs.append(tensor)
        return len(self.outputs) - 1

    def _once(self, variable):
        if id(variable) in self._seen:
            raise ValueError(f"{getattr(variable, 'path', variable)} was used twice in one "
                             "forward pass; second-order statistics need one call per layer")
        self._seen.add(id(variable))

    def add_dense(self, kernels, inputs, output, transposed):
        for kernel in kernels:
            self._once(kernel)
        self.dense.append(DenseRecord(list(kernels), inputs, self._output_index(output), transposed))

    def add_embedding(self, table, ids, output):
        self._once(table)
        self.embeddings.append(EmbeddingRecord(table, ids, self._output_index(output)))


@contextlib.contextmanager
def recording(probe):
    """Layers traced inside report to `probe`; with None, nothing changes."""
    global _probe
    if probe is None:
        yield None
        return
    previous, _probe = _probe, probe
    try:
        yield probe
    finally:
        _probe = previous


def dense(kernels, inputs, output, transposed=False):
    """A layer's pre-bias matmul output, recorded when a probe is active; returned as is."""
    if _probe is not None:
        _probe.add_dense(kernels, inputs, output, transposed)
    return output


def embedding(table, ids, output):
    """A table lookup (`ids` None: positions, see EmbeddingRecord), recorded when a probe is
    active."""
    if _probe is not None:
        _probe.add_embedding(table, ids, output)


def outputs(probe):
    """The tensors whose gradients the tape must also compute (none without a probe)."""
    return list(probe.outputs) if probe is not None else []


def take_output_gradients(probe, gradients, loss_scale):
    """Hand the probe d(loss)/d(output) for each of `outputs(probe)`: the tape's gradients of
    the scaled loss, divided by the loss scale in float32. A None (an output the loss does
    not reach) stays None."""
    if probe is None:
        return
    import tensorflow as tf
    probe.output_gradients = [None if g is None else tf.cast(g, tf.float32) / loss_scale
                              for g in gradients]
