"""bert_tf/distribute/gradients.py: which gradients travel as rows, and that they come back
as the same dense sum."""

import numpy as np
import tensorflow as tf

from bert_tf.distribute import gradients

TABLE = tf.Variable(tf.zeros([100, 3]))


def rows(ids):
    ids = tf.constant(ids)
    values = tf.reshape(tf.range(ids.shape[0] * 3, dtype=tf.float32), [-1, 3])
    return tf.IndexedSlices(values, ids, tf.constant([100, 3]))


def test_slices_travel_when_the_gathered_rows_are_fewer_than_the_table():
    g = rows([5, 7, 5, 0])
    assert gradients.is_sparse(gradients.for_reduction(g, TABLE, replicas=2))
    # 4 rows x 25 replicas = the table's 100: no longer fewer, so dense
    assert not gradients.is_sparse(gradients.for_reduction(g, TABLE, replicas=25))
    # replicas 0: the caller reduces nothing (one replica, accumulation, a strategy that says no)
    dense = gradients.for_reduction(g, TABLE, replicas=0)
    assert not gradients.is_sparse(dense)
    np.testing.assert_array_equal(dense, tf.convert_to_tensor(g))


def test_slices_of_unknown_length_travel_dense():
    """Replicas must send equal shapes: rows known only at run time are not sent as rows."""
    seen = []

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int32)])
    def sent(ids):
        values = tf.ones([tf.shape(ids)[0], 3])
        seen.append(gradients.is_sparse(gradients.for_reduction(tf.IndexedSlices(values, ids, [100, 3]),
                                                                TABLE, 2)))
        return ids
    sent.get_concrete_function()
    assert seen == [False]


def test_none_is_zeros_and_division_reaches_the_values():
    np.testing.assert_array_equal(gradients.for_reduction(None, TABLE, 2), np.zeros([100, 3]))
    g = rows([1, 2])
    half = gradients.divided(g, 2.0)
    assert gradients.is_sparse(half)
    np.testing.assert_array_equal(half.values, g.values / 2)
    np.testing.assert_array_equal(half.indices, g.indices)
    np.testing.assert_array_equal(gradients.divided(tf.constant([2.0, 4.0]), 2.0), [1.0, 2.0])


def test_dense_adds_duplicate_rows_into_the_table_and_keeps_its_static_shape():
    table, dense_too = gradients.dense([rows([5, 7, 5]), tf.constant([1.0])], [[100, 3], [1]])
    expected = np.zeros([100, 3], np.float32)
    expected[5] = [0, 1, 2] + np.array([6, 7, 8])
    expected[7] = [3, 4, 5]
    np.testing.assert_array_equal(table, expected)
    np.testing.assert_array_equal(dense_too, [1.0])

    # all-gathered rows come with an unknown count; the table keeps its shape (the blocked
    # gradient norm and XLA after it need it)
    shapes = []

    @tf.function(input_signature=[tf.TensorSpec([None, 3]), tf.TensorSpec([None], tf.int32)])
    def rebuilt(values, ids):
        out = gradients.dense([tf.IndexedSlices(values, ids, tf.shape(TABLE))], [TABLE.shape])[0]
        shapes.append(out.shape.as_list())
        return out
    rebuilt.get_concrete_function()
    assert shapes == [[100, 3]]


def test_only_cpus_send_rows_and_a_wrapped_strategy_only_when_asked():
    """The rows are summed back on each replica: bit-identical on CPUs, not with GPU atomics."""
    from bert_tf.distribute.tf_distribute import TFDistributeStrategy
    assert gradients.on_cpus(["/job:worker/replica:0/task:0/device:CPU:0", "/device:CPU:1"])
    assert not gradients.on_cpus(["/job:worker/replica:0/task:0/device:GPU:0"])
    one = tf.distribute.OneDeviceStrategy("/cpu:0")
    assert not TFDistributeStrategy(one).reduces_sparse_gradients  # a vendor's: dense unless asked
    assert TFDistributeStrategy(one, sparse_gradients=True).reduces_sparse_gradients
