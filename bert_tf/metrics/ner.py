"""Entity-level precision, recall and F1 as `conlleval` and seqeval (default mode) count.

A chunk (entity) is found from the tags alone, one tag at a time, with conlleval's
boundary rules as seqeval extends them to E- and S- tags:

- a chunk ends before B- or S-, before O, after E- or S-, and where the type changes;
- a chunk starts at B- or S-, at I- or E- after O (so I- after O is a chunk, not an
  error), at I- or E- after an E- or S-, and where the type changes (so B-PER I-LOC is
  two chunks).

That reads BIO, IOB1, BIOES and BIOS alike; BMES's M- is read as I-. A predicted chunk is
correct when a gold chunk has the same type, start and end. Sentence ends close chunks.
Precision = correct / predicted chunks, recall = correct / gold chunks, F1 their harmonic
mean (0.0 where a ratio is 0/0). Values are fractions, not conlleval's percentages.
"""

import collections


def _parse(tag):
    """A tag -> (prefix, type): "B-PER" -> ("B", "PER"), "O" -> ("O", ""), "M-X" -> ("I", "X")."""
    if tag == "O":
        return "O", ""
    prefix, sep, kind = tag.partition("-")
    if not sep or prefix not in ("B", "I", "M", "E", "S"):
        raise ValueError(f"tag {tag!r} is not O or B-/I-/M-/E-/S-TYPE")
    return ("I" if prefix == "M" else prefix), kind


def _end_of_chunk(prev_tag, tag, prev_type, kind):
    """True when the chunk open at the previous token ends there (conlleval/seqeval)."""
    if prev_tag in ("E", "S"):
        return True
    if prev_tag in ("B", "I") and tag in ("B", "S", "O"):
        return True
    return prev_tag != "O" and prev_type != kind


def _start_of_chunk(prev_tag, tag, prev_type, kind):
    """True when a chunk starts at this token (conlleval/seqeval)."""
    if tag in ("B", "S"):
        return True
    if tag in ("I", "E") and prev_tag in ("O", "E", "S"):
        return True
    return tag != "O" and prev_type != kind


def get_chunks(tags):
    """Tags of one sentence -> [(type, start, end)], `end` inclusive (seqeval's form)."""
    chunks = []
    prev_tag, prev_type, begin = "O", "", 0
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, kind = _parse(tag)
        if _end_of_chunk(prev_tag, prefix, prev_type, kind):
            chunks.append((prev_type, begin, i - 1))
        if _start_of_chunk(prev_tag, prefix, prev_type, kind):
            begin = i
        prev_tag, prev_type = prefix, kind
    return chunks


def _sentences(sequences):
    """Accept one sentence (a list of tags) or a list of sentences."""
    sequences = list(sequences)
    if sequences and isinstance(sequences[0], str):
        return [sequences]
    return [list(s) for s in sequences]


def _scores(correct, predicted, gold):
    precision = correct / predicted if predicted else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def ner_metrics(gold, predicted):
    """Entity-level scores of predicted tags against gold tags.

    `gold` and `predicted` are lists of sentences (lists of tags) of equal shapes, or one
    sentence each. Returns {"precision", "recall", "f1", "accuracy" (token level, as
    conlleval prints), "num_gold", "num_predicted", "num_correct", "per_type": {type:
    {"precision", "recall", "f1", "support" (gold chunks), "predicted"}}}.
    """
    gold, predicted = _sentences(gold), _sentences(predicted)
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted")
    counts = collections.defaultdict(lambda: [0, 0, 0])  # type -> correct, predicted, gold
    tokens = same = 0
    for index, (gold_tags, pred_tags) in enumerate(zip(gold, predicted)):
        if len(gold_tags) != len(pred_tags):
            raise ValueError(f"sentence {index}: {len(gold_tags)} gold tags but "
                             f"{len(pred_tags)} predicted")
        tokens += len(gold_tags)
        same += sum(g == p for g, p in zip(gold_tags, pred_tags))
        gold_chunks, pred_chunks = set(get_chunks(gold_tags)), set(get_chunks(pred_tags))
        for kind, *_ in gold_chunks:
            counts[kind][2] += 1
        for kind, *_ in pred_chunks:
            counts[kind][1] += 1
        for kind, *_ in gold_chunks & pred_chunks:
            counts[kind][0] += 1
    correct, n_pred, n_gold = (sum(c[i] for c in counts.values()) for i in range(3))
    out = _scores(correct, n_pred, n_gold)
    out.update(accuracy=same / tokens if tokens else 0.0, num_gold=n_gold,
               num_predicted=n_pred, num_correct=correct)
    out["per_type"] = {kind: dict(_scores(*c), support=c[2], predicted=c[1])
                       for kind, c in sorted(counts.items())}
    return out
