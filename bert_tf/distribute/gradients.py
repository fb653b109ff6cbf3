"""The form each replica's gradients travel in to the all-reduce.

An embedding lookup's gradient (`tf.gather`) is `tf.IndexedSlices`: one row per looked-up
id. Reduced as slices (both engines all-gather their rows and indices; summing them into the
table is the same sum), it costs rows x replicas instead of the whole table. In fine-tuning
the word embeddings are only looked up, and they are half of MiniLM-L6's gradients: at 8 x 128
tokens per replica their slices are 1,024 rows against the table's 30,522 (docs/benchmarks.md,
"Multi-worker scaling"). In pretraining the same table also feeds the masked-LM output layer,
so its gradient is dense there and travels as before.

Slices travel where their row count is known when the step is traced (a fixed batch and
sequence length: not with several length buckets, whose length is known only at run time)
and the rows of all replicas are fewer than the table's. Every worker traces the same shapes,
so all decide alike (a worker sending slices while another sends the table would mismatch
their collectives). After the reduction each replica sums the rows back into the table
(`dense`), so clipping and the optimizer see what they always saw; that sum must come out
bit-identical on every replica, which `unsorted_segment_sum` is on CPUs and not on GPUs
(atomics): strategies send slices only from CPUs (`on_cpus`), where the gain was measured.
"""

import tensorflow as tf


def for_reduction(gradient, variable, replicas):
    """The gradient as it is sent: slices where `replicas` > 0 and slices pay, else dense
    (zeros where the loss does not reach the variable)."""
    if gradient is None:
        return tf.zeros_like(variable)
    if replicas and is_sparse(gradient) and _slices_pay(gradient, variable, replicas):
        return gradient
    return tf.convert_to_tensor(gradient)


def _slices_pay(slices, variable, replicas):
    rows = tf.compat.dimension_value(slices.values.shape[0])
    return rows is not None and rows * replicas < variable.shape[0]


def divided(gradient, divisor):
    """gradient / divisor, for slices too (their values)."""
    if is_sparse(gradient):
        return tf.IndexedSlices(gradient.values / divisor, gradient.indices, gradient.dense_shape)
    return gradient / divisor


def is_sparse(gradient):
    """Whether the gradient travels as rows (tf.IndexedSlices)."""
    return isinstance(gradient, tf.IndexedSlices)


def dense(gradients, shapes):
    """Reduced gradients as dense tensors of `shapes` (slices summed into their table:
    duplicate rows add; the table's static shape kept for what compiles after)."""
    return [tf.math.unsorted_segment_sum(g.values, g.indices, shape[0]) if is_sparse(g) else g
            for g, shape in zip(gradients, shapes)]


def on_cpus(devices):
    """Whether every device named is a CPU (where slices may travel: see the module's docstring)."""
    return all("CPU:" in str(d).upper() for d in devices)
