"""Classification metrics against hand-computed values and NumPy's correlation."""

import math

import numpy as np
import pytest

from bert_tf.metrics import classification as m

# TP at 0, 1, 2, 8 (4); FN at 3 (1); FP at 6, 7 (2); TN at 4, 5, 9 (3).
LABELS = [1, 1, 1, 1, 0, 0, 0, 0, 1, 0]
PREDICTIONS = [1, 1, 1, 0, 0, 0, 1, 1, 1, 0]


def test_accuracy_f1_mcc_by_hand():
    assert m.accuracy(LABELS, PREDICTIONS) == pytest.approx(0.7)  # (4 + 3) / 10
    assert m.f1(LABELS, PREDICTIONS) == pytest.approx(8 / 11)  # 2*4 / (2*4 + 2 + 1)
    # (TP*TN - FP*FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)) = (12 - 2) / sqrt(6*5*5*4)
    assert m.matthews_corrcoef(LABELS, PREDICTIONS) == pytest.approx(10 / math.sqrt(600))
    # For binary labels MCC is the Pearson correlation of labels and predictions.
    assert m.matthews_corrcoef(LABELS, PREDICTIONS) == pytest.approx(
        np.corrcoef(LABELS, PREDICTIONS)[0, 1])
    # F1 of the other class, by the same formula: TP 3, FP 1, FN 2 -> 6 / 9.
    assert m.f1(LABELS, PREDICTIONS, positive=0) == pytest.approx(6 / 9)


def test_zero_division_conventions():
    assert m.f1([0, 0, 0], [0, 0, 0]) == 0.0  # no positive label or prediction
    assert m.f1([1, 1, 0], [0, 0, 0]) == 0.0
    assert m.matthews_corrcoef([1, 0, 1], [1, 1, 1]) == 0.0  # one predicted class
    assert m.matthews_corrcoef([1, 1], [1, 1]) == 0.0
    assert m.matthews_corrcoef([0, 1, 0, 1], [0, 1, 0, 1]) == pytest.approx(1.0)
    assert m.matthews_corrcoef([0, 1, 0, 1], [1, 0, 1, 0]) == pytest.approx(-1.0)
    assert math.isnan(m.pearson([1, 2, 3], [2, 2, 2]))
    with pytest.raises(ValueError):
        m.accuracy([1, 0], [1])
    with pytest.raises(ValueError):
        m.accuracy([], [])


def test_multiclass_mcc_by_hand():
    # Confusion (rows true, columns predicted): [[2, 1, 0], [0, 2, 0], [1, 0, 1]];
    # t = [3, 2, 2], p = [3, 3, 1], c = 5, s = 7:
    # (5*7 - (9 + 6 + 2)) / sqrt((49 - (9 + 9 + 1)) * (49 - (9 + 4 + 4))) = 18 / sqrt(30*32)
    labels = [0, 0, 0, 1, 1, 2, 2]
    predictions = [0, 0, 1, 1, 1, 0, 2]
    assert m.matthews_corrcoef(labels, predictions) == pytest.approx(18 / math.sqrt(960))
    # Labels may be strings too.
    assert m.matthews_corrcoef(["a", "b", "a"], ["a", "b", "a"]) == pytest.approx(1.0)


def test_pearson_and_spearman_by_hand():
    x, y = [1, 2, 3, 4, 5], [2, 4, 5, 4, 5]
    # dx = [-2,-1,0,1,2], dy = [-2,0,1,0,1]: 6 / sqrt(10 * 6)
    assert m.pearson(x, y) == pytest.approx(6 / math.sqrt(60))
    # Ranks of y with ties averaged: [1, 2.5, 4.5, 2.5, 4.5]; deviations from 3:
    # [-2, -0.5, 1.5, -0.5, 1.5]: sum dx*dr = 7, sum dr^2 = 9 -> 7 / sqrt(10 * 9)
    assert m.rankdata(y).tolist() == [1, 2.5, 4.5, 2.5, 4.5]
    assert m.spearman(x, y) == pytest.approx(7 / math.sqrt(90))
    assert m.rankdata([10, 20, 10, 30, 20, 20]).tolist() == [1.5, 4, 1.5, 6, 4, 4]
    assert m.spearman([1, 2, 3], [30, 20, 10]) == pytest.approx(-1.0)
    assert m.spearman([1, 2, 3, 4], [1, 8, 27, 1000]) == pytest.approx(1.0)  # monotone


def test_correlations_equal_numpy_on_random_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=500)
    y = 0.6 * x + rng.normal(size=500)
    assert m.pearson(x, y) == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-12)
    ranks = lambda v: np.argsort(np.argsort(v)) + 1  # noqa: E731 (no ties in continuous data)
    assert m.spearman(x, y) == pytest.approx(np.corrcoef(ranks(x), ranks(y))[0, 1], abs=1e-12)
    # With ties (scores on STS-B's 0.2 grid), Spearman is Pearson of average ranks.
    a, b = np.round(rng.uniform(0, 5, 300) * 5) / 5, np.round(rng.uniform(0, 5, 300) * 5) / 5

    def average(v):  # the mean of the 1-based positions a value takes in sorted order
        return np.array([np.mean(np.flatnonzero(np.sort(v) == e)) + 1 for e in v])
    assert m.spearman(a, b) == pytest.approx(np.corrcoef(average(a), average(b))[0, 1], abs=1e-12)


def test_task_metrics():
    mrpc = m.task_metrics("MRPC", LABELS, PREDICTIONS)
    assert set(mrpc) == {"accuracy", "f1", "acc_and_f1"}
    assert mrpc["acc_and_f1"] == pytest.approx((0.7 + 8 / 11) / 2)
    assert set(m.task_metrics("cola", LABELS, PREDICTIONS)) == {"mcc", "accuracy"}
    assert m.task_metrics("rte", LABELS, PREDICTIONS) == {"accuracy": pytest.approx(0.7)}
    assert m.task_metrics("my-task", LABELS, PREDICTIONS) == {"accuracy": pytest.approx(0.7)}
    stsb = m.task_metrics("sts-b", [1.0, 2.0, 3.0, 4.0, 5.0], [2.0, 4.0, 5.0, 4.0, 5.0])
    assert stsb == {"pearson": pytest.approx(6 / math.sqrt(60)),
                    "spearman": pytest.approx(7 / math.sqrt(90)),
                    "corr": pytest.approx((6 / math.sqrt(60) + 7 / math.sqrt(90)) / 2)}
    assert set(m.task_metrics("my-regression", [1.0, 2.0], [1.5, 2.5], is_regression=True)) == {
        "pearson", "spearman", "corr"}
