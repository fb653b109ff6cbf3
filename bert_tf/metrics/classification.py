"""Sentence classification and regression metrics, NumPy only, as GLUE reports them.

Accuracy for every classification task; F1 of the positive class (label id 1) for MRPC;
Matthews correlation for CoLA; Pearson and Spearman correlation for STS-B. The values
match scikit-learn's and SciPy's (`f1_score`, `matthews_corrcoef`, `pearsonr`,
`spearmanr`), including their conventions where a ratio is 0/0 (F1 and MCC give 0.0, a
correlation with a constant input gives nan), without depending on either.
"""

import numpy as np


def _pair(labels, predictions):
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if labels.shape != predictions.shape or labels.ndim != 1:
        raise ValueError(f"labels {labels.shape} and predictions {predictions.shape} must be "
                         "1-D and of one length")
    if labels.size == 0:
        raise ValueError("no examples to score")
    return labels, predictions


def accuracy(labels, predictions):
    """Fraction of predictions equal to their label."""
    labels, predictions = _pair(labels, predictions)
    return float(np.mean(labels == predictions))


def f1(labels, predictions, positive=1):
    """F1 of the `positive` class (MRPC: paraphrase, id 1); 0.0 when it is neither
    predicted nor present, as scikit-learn's `zero_division=0`."""
    labels, predictions = _pair(labels, predictions)
    true_pos = np.sum((predictions == positive) & (labels == positive))
    denominator = np.sum(predictions == positive) + np.sum(labels == positive)
    return float(2 * true_pos / denominator) if denominator else 0.0


def matthews_corrcoef(labels, predictions):
    """Matthews correlation of binary (or multi-class) labels: GLUE's CoLA metric.

    The multi-class form (Gorodkin's R_K, as scikit-learn) reduces to
    (TP*TN - FP*FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)) for two classes; a zero
    denominator (one class only) gives 0.0.
    """
    labels, predictions = _pair(labels, predictions)
    classes = np.unique(np.concatenate([labels, predictions]))
    true_index = np.searchsorted(classes, labels)
    pred_index = np.searchsorted(classes, predictions)
    confusion = np.zeros([classes.size, classes.size], np.float64)
    np.add.at(confusion, (true_index, pred_index), 1)
    t = confusion.sum(axis=1)  # true occurrences per class
    p = confusion.sum(axis=0)  # predicted occurrences per class
    c = np.trace(confusion)
    s = confusion.sum()
    numerator = c * s - np.dot(t, p)
    denominator = np.sqrt((s * s - np.dot(p, p)) * (s * s - np.dot(t, t)))
    return float(numerator / denominator) if denominator else 0.0


def pearson(x, y):
    """Pearson correlation; nan when either input is constant (as SciPy)."""
    x, y = _pair(np.asarray(x, np.float64), np.asarray(y, np.float64))
    dx, dy = x - x.mean(), y - y.mean()
    denominator = np.sqrt(np.dot(dx, dx) * np.dot(dy, dy))
    if denominator == 0:
        return float("nan")
    return float(np.clip(np.dot(dx, dy) / denominator, -1.0, 1.0))


def rankdata(values):
    """Ranks from 1, ties sharing the mean of the ranks they span (SciPy's "average")."""
    values = np.asarray(values)
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    # Start of each run of equal values, and the run each sorted position belongs to.
    starts = np.concatenate([[True], sorted_values[1:] != sorted_values[:-1]])
    run = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    last = np.concatenate([first[1:], [values.size]]) - 1
    average = (first + last) / 2.0 + 1.0
    ranks = np.empty(values.size, np.float64)
    ranks[order] = average[run]
    return ranks


def spearman(x, y):
    """Spearman correlation: Pearson of the average ranks (ties handled as SciPy)."""
    x, y = _pair(x, y)
    return pearson(rankdata(x), rankdata(y))


# Which metrics each task reports, by `--task_name` (classifier.PROCESSORS' names).
TASK_METRICS = {
    "cola": ("mcc", "accuracy"),
    "mrpc": ("accuracy", "f1"),
    "sts-b": ("pearson", "spearman"),
}
_FUNCTIONS = {"accuracy": accuracy, "f1": f1, "mcc": matthews_corrcoef, "pearson": pearson,
              "spearman": spearman}
_ALIASES = {"stsb": "sts-b"}


def task_metrics(task_name, labels, predictions, is_regression=False):
    """The usual metrics of a task as {name: float}.

    CoLA: mcc, accuracy; MRPC: accuracy, f1 and their mean `acc_and_f1`; STS-B: pearson,
    spearman and their mean `corr`; every other task (and any task added by
    `register_processor`): accuracy, or pearson and spearman when `is_regression`.
    `labels` and `predictions` are label ids (floats for regression).
    """
    key = str(task_name).strip().lower()
    key = _ALIASES.get(key, key)
    names = TASK_METRICS.get(key) or (("pearson", "spearman") if is_regression else ("accuracy",))
    out = {name: _FUNCTIONS[name](labels, predictions) for name in names}
    if "f1" in out:
        out["acc_and_f1"] = (out["accuracy"] + out["f1"]) / 2
    if "spearman" in out:
        out["corr"] = (out["pearson"] + out["spearman"]) / 2
    return out
