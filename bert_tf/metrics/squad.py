"""SQuAD exact match and F1, scored as the official v1.1 and v2.0 evaluation scripts score them.

  python -m bert_tf.metrics.squad DATA_FILE PRED_FILE [--na-prob-file F] [--na-prob-thresh T]

prints the JSON the official script for the data's version prints: for v1.1
`{"exact_match": ..., "f1": ...}` on one line; for v2.0 the ordered dict `exact, f1, total,
HasAns_*, NoAns_*` (and `best_exact, best_exact_thresh, best_f1, best_f1_thresh` with a
no-answer probability file), indented by 2.

Every number is computed with the official scripts' arithmetic, in their order, so results
agree to the last bit: answers are normalized (lower case, ASCII punctuation removed, the
articles a/an/the removed, whitespace collapsed), a question scores the best of its gold
answers, and the totals are percentages. The two versions differ in small ways that are kept:
v1.1's F1 of two empty answers is 0 while v2.0's is 1; v2.0 drops gold answers that normalize
to nothing and treats a question with none left as unanswerable (gold answer "").

Where the official scripts crash, this module raises `UserError` with a message instead: a
file that is not JSON or not SQuAD-shaped (the message names the file and the first bad
entry), a v1.1 question with no answers, a v2.0 prediction set that misses questions (the
v2.0 script needs one for every question: "" means no answer), a no-answer probability file
that misses a scored question. Like the official v1.1 script, a missing v1.1 prediction scores
0 with the line "Unanswered question ID will receive score 0." on stderr.

The module imports neither TensorFlow nor absl.
"""

import collections
import json
import re
import string
import sys

from bert_tf.data.squad_json import check_dataset, is_v2, iter_questions, read_json, type_name
from bert_tf.errors import UserError

_DROP_PUNCTUATION = str.maketrans("", "", string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
V1_VERSION = "1.1"


# ------------------------------------------------------------------ answers and their scores

def normalize_answer(text):
    """Lower-case, drop ASCII punctuation, drop the words a/an/the, collapse whitespace."""
    text = text.lower().translate(_DROP_PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def answer_tokens(text):
    """The normalized answer's words."""
    return normalize_answer(text).split()


def exact_match(prediction, gold):
    """1 when prediction and gold answer are equal after normalization, else 0."""
    return int(normalize_answer(prediction) == normalize_answer(gold))


def _token_f1(pred_tokens, gold_tokens, pred_counts=None):
    """Bag-of-words F1 of two token lists; 0 (an int, as officially) when they share none.

    pred_counts: the prediction's Counter when the caller has it already.
    """
    if pred_tokens == gold_tokens:
        shared = len(pred_tokens)
    else:
        if pred_counts is None:
            pred_counts = collections.Counter(pred_tokens)
        shared = sum((pred_counts & collections.Counter(gold_tokens)).values())
    if shared == 0:
        return 0
    precision = 1.0 * shared / len(pred_tokens)
    recall = 1.0 * shared / len(gold_tokens)
    return (2 * precision * recall) / (precision + recall)


def _token_f1_v2(pred_tokens, gold_tokens, pred_counts=None):
    """v2.0's F1 of token lists: when either is empty, 1 if both are and 0 otherwise."""
    if not pred_tokens or not gold_tokens:
        return int(pred_tokens == gold_tokens)
    return _token_f1(pred_tokens, gold_tokens, pred_counts)


def f1_v1(prediction, gold):
    """The v1.1 script's F1: token overlap of the normalized answers (two empty answers: 0)."""
    return _token_f1(answer_tokens(prediction), answer_tokens(gold))


def f1_v2(prediction, gold):
    """The v2.0 script's F1: as v1.1, except that when either answer is empty it is 1 if both
    are and 0 otherwise (so "" for an unanswerable question scores 1)."""
    return _token_f1_v2(answer_tokens(prediction), answer_tokens(gold))


def best_over_golds(score_fn, prediction, golds):
    """The best score of the prediction against any of the gold answers (the official max)."""
    return max(score_fn(prediction, gold) for gold in golds)


def score_question(prediction, golds, f1_fn=_token_f1):
    """(best exact match, best F1) of one prediction over its gold answers.

    The same numbers as best_over_golds with exact_match and f1_v1 (or, with f1_fn=
    _token_f1_v2, f1_v2), computed with each answer normalized once.
    """
    pred_normal = normalize_answer(prediction)
    pred_tokens = pred_normal.split()
    pred_counts = collections.Counter(pred_tokens)
    gold_normals = [normalize_answer(gold) for gold in golds]
    exact = max(int(pred_normal == gold) for gold in gold_normals)
    f1 = max(f1_fn(pred_tokens, gold.split(), pred_counts) for gold in gold_normals)
    return exact, f1


# ------------------------------------------------------------------ checking the inputs

def _warn(message):
    """A line on stderr, where the official scripts print theirs."""
    print(message, file=sys.stderr)


def check_predictions(predictions, source="predictions"):
    """Raise UserError unless predictions is an object mapping question ids to answer strings."""
    if not isinstance(predictions, dict):
        raise UserError(f"{source}: predictions must be a JSON object {{question id: answer text}}, "
                        f"not {type_name(predictions)}")
    for qid, answer in predictions.items():
        if not isinstance(answer, str):
            raise UserError(f"{source}: the prediction for '{qid}' is {type_name(answer)}, "
                            "not an answer string")


def check_na_probs(na_probs, source="na_probs"):
    """Raise UserError unless na_probs maps question ids to numbers."""
    if not isinstance(na_probs, dict):
        raise UserError(f"{source}: no-answer probabilities must be a JSON object "
                        f"{{question id: probability}}, not {type_name(na_probs)}")
    for qid, prob in na_probs.items():
        if isinstance(prob, bool) or not isinstance(prob, (int, float)):
            raise UserError(f"{source}: the no-answer probability of '{qid}' is "
                            f"{type_name(prob)}, not a number")


# ------------------------------------------------------------------ v1.1

def evaluate_v1(dataset, predictions):
    """Score predictions {id: text} on a v1.1 dataset as evaluate-v1.1.py does.

    Returns {"exact_match": percent, "f1": percent}. A question without a prediction scores 0
    and is named on stderr, as officially.
    """
    check_dataset(dataset)
    check_predictions(predictions)
    exact_total = f1_total = count = 0
    for qa in iter_questions(dataset):
        count += 1
        if qa["id"] not in predictions:
            _warn("Unanswered question " + qa["id"] + " will receive score 0.")
            continue
        golds = [answer["text"] for answer in qa["answers"]]
        if not golds:
            raise UserError(f"dataset: question {qa['id']} has no answers; a SQuAD v1.1 question "
                            "needs at least one (unanswerable ones belong to v2.0 data, marked "
                            "is_impossible)")
        exact, f1 = score_question(predictions[qa["id"]], golds)
        exact_total += exact
        f1_total += f1
    if count == 0:
        raise UserError("dataset: no questions to score")
    return {"exact_match": 100.0 * exact_total / count, "f1": 100.0 * f1_total / count}


# ------------------------------------------------------------------ v2.0

def has_answer_map(dataset):
    """{question id: whether it has any gold answer}, in file order."""
    return {qa["id"]: bool(qa["answers"]) for qa in iter_questions(dataset)}


def raw_scores_v2(dataset, predictions):
    """Per-question (exact, f1) dicts before any no-answer threshold, as the v2.0 script.

    Gold answers that normalize to nothing are dropped; with none left the gold answer is "".
    Every question must have a prediction.
    """
    exact, f1 = {}, {}
    missing = []
    for qa in iter_questions(dataset):
        qid = qa["id"]
        if qid not in predictions:
            missing.append(qid)
            continue
        golds = [a["text"] for a in qa["answers"] if normalize_answer(a["text"])] or [""]
        exact[qid], f1[qid] = score_question(predictions[qid], golds, _token_f1_v2)
    if missing:
        raise UserError(f"predictions: no prediction for {len(missing)} of "
                        f"{len(missing) + len(exact)} questions (first: {missing[0]}); SQuAD v2.0 "
                        "scores every question: predict \"\" for no answer")
    return exact, f1


def apply_na_threshold(scores, na_probs, has_answer, na_prob_thresh):
    """Scores after predicting no answer where na_probs > na_prob_thresh (then 1.0 iff correct)."""
    return {qid: float(not has_answer[qid]) if na_probs[qid] > na_prob_thresh else score
            for qid, score in scores.items()}


def summary(exact, f1, qids=None):
    """OrderedDict(exact, f1, total) in percent over qids (all scored questions by default)."""
    if not qids:
        qids = list(exact)
        exact_sum, f1_sum = sum(exact.values()), sum(f1.values())
    else:
        exact_sum, f1_sum = sum(exact[q] for q in qids), sum(f1[q] for q in qids)
    total = len(qids)
    return collections.OrderedDict([("exact", 100.0 * exact_sum / total),
                                    ("f1", 100.0 * f1_sum / total), ("total", total)])


def _merge(result, part, prefix):
    """Copy part's keys into result as PREFIX_key."""
    for key, value in part.items():
        result[f"{prefix}_{key}"] = value


def best_threshold(predictions, scores, na_probs, has_answer):
    """(best total score in percent, its no-answer threshold), as the v2.0 script finds them.

    Walks the questions by rising no-answer probability: answering one gains its score if it
    has an answer and costs 1 if it has none but the prediction is not empty.
    """
    current = best = sum(1 for answerable in has_answer.values() if not answerable)
    threshold = 0.0
    for qid in sorted(na_probs, key=lambda q: na_probs[q]):
        if qid not in scores:
            continue
        if has_answer[qid]:
            current += scores[qid]
        else:
            current += -1 if predictions[qid] else 0
        if current > best:
            best, threshold = current, na_probs[qid]
    return 100.0 * best / len(scores), threshold


def evaluate_v2(dataset, predictions, na_probs=None, na_prob_thresh=1.0):
    """Score predictions on v2.0 data as evaluate-v2.0.py does; an OrderedDict of its keys.

    exact, f1, total; HasAns_* and NoAns_* when there are such questions; with na_probs
    ({id: probability of no answer}) also best_exact, best_exact_thresh, best_f1,
    best_f1_thresh. A question whose no-answer probability exceeds na_prob_thresh counts as
    predicted unanswerable.
    """
    check_dataset(dataset)
    check_predictions(predictions)
    with_probs = na_probs is not None
    if with_probs:
        check_na_probs(na_probs)
    else:
        na_probs = {qid: 0.0 for qid in predictions}
    has_answer = has_answer_map(dataset)
    if not has_answer:
        raise UserError("dataset: no questions to score")
    exact_raw, f1_raw = raw_scores_v2(dataset, predictions)
    lacking = next((qid for qid in exact_raw if qid not in na_probs), None)
    if lacking is not None:
        raise UserError(f"na_probs: no no-answer probability for question {lacking}")
    exact = apply_na_threshold(exact_raw, na_probs, has_answer, na_prob_thresh)
    f1 = apply_na_threshold(f1_raw, na_probs, has_answer, na_prob_thresh)
    result = summary(exact, f1)
    for prefix, wanted in (("HasAns", True), ("NoAns", False)):
        qids = [qid for qid, answerable in has_answer.items() if answerable == wanted]
        if qids:
            _merge(result, summary(exact, f1, qids), prefix)
    if with_probs:
        result["best_exact"], result["best_exact_thresh"] = best_threshold(
            predictions, exact_raw, na_probs, has_answer)
        result["best_f1"], result["best_f1_thresh"] = best_threshold(
            predictions, f1_raw, na_probs, has_answer)
    return result


# ------------------------------------------------------------------ files

def _renamed(error, old, new):
    """The same UserError with the message's leading source name replaced by the file's."""
    message = str(error)
    if message.startswith(old + ":"):
        message = new + message[len(old):]
    return UserError(message)


def evaluate(data_file, pred_file, na_prob_file=None, na_prob_thresh=1.0):
    """Score a predictions file on a SQuAD data file with the evaluator of the data's version.

    v1.1 data: evaluate_v1's dict (and, as the official script, a stderr warning when the
    file's version is not "1.1"); v2.0 data (see `is_v2`): evaluate_v2's OrderedDict.
    """
    dataset = read_json(data_file, "data file")
    names = {"dataset": f"data file {data_file}", "predictions": f"predictions file {pred_file}",
             "na_probs": f"no-answer probability file {na_prob_file}"}
    if not isinstance(dataset, dict):
        raise UserError(f"data file {data_file}: not a SQuAD dataset: the top level is "
                        f"{type_name(dataset)}, not an object with a 'data' list")
    try:
        check_dataset(dataset, names["dataset"])
        predictions = read_json(pred_file, "predictions file")
        check_predictions(predictions, names["predictions"])
        if is_v2(dataset):
            na_probs = None
            if na_prob_file is not None:
                na_probs = read_json(na_prob_file, "no-answer probability file")
                check_na_probs(na_probs, names["na_probs"])
            return evaluate_v2(dataset, predictions, na_probs, na_prob_thresh)
        if na_prob_file is not None or na_prob_thresh != 1.0:
            raise UserError(f"data file {data_file} is SQuAD v1.1 (no is_impossible questions): "
                            "--na-prob-file and --na-prob-thresh apply only to v2.0 data")
        version = dataset.get("version")
        if version != V1_VERSION:
            _warn(f"Evaluation expects v-{V1_VERSION}, but got dataset with v-{version}")
        return evaluate_v1(dataset, predictions)
    except UserError as e:
        for old, new in names.items():
            if str(e).startswith(old + ":"):
                raise _renamed(e, old, new) from None
        raise


def format_result(result):
    """The official scripts' printed form: v1.1 on one line, v2.0 indented by 2."""
    if "exact_match" in result:
        return json.dumps(result)
    return json.dumps(result, indent=2)


# ------------------------------------------------------------------ command line

def main(argv):
    """CLI: evaluate DATA_FILE PRED_FILE and print the official JSON (the official scripts'
    options, with underscore aliases)."""
    import argparse
    parser = argparse.ArgumentParser(prog="python -m bert_tf.metrics.squad",
                                     description="SQuAD v1.1 / v2.0 EM and F1, as the official scripts.")
    parser.add_argument("files", nargs="*", metavar="DATA_FILE PRED_FILE")
    parser.add_argument("--na-prob-file", "--na_prob_file", "-n", dest="na_prob_file",
                        help="v2.0: model estimates of the probability of no answer, {question id: probability}.")
    parser.add_argument("--na-prob-thresh", "--na_prob_thresh", "-t", dest="na_prob_thresh", type=float,
                        default=1.0, help='v2.0: predict "" where the no-answer probability exceeds this.')
    parser.add_argument("--out-file", "--out_file", "-o", dest="out_file",
                        help="Write the metrics JSON here instead of stdout.")
    opts = parser.parse_args(argv[1:])
    if len(opts.files) != 2:
        raise UserError("usage: python -m bert_tf.metrics.squad DATA_FILE PRED_FILE "
                        "[--na-prob-file F] [--na-prob-thresh T] [--out-file F]")
    result = evaluate(*opts.files, opts.na_prob_file, opts.na_prob_thresh)
    if opts.out_file:
        with open(opts.out_file, "w", encoding="utf-8") as f:
            json.dump(result, f)
    else:
        print(format_result(result))


if __name__ == "__main__":
    from bert_tf import cli
    cli.run_argv(main)
