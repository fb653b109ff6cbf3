"""Entity-level NER metrics: conlleval's chunk rules on hand-checked boundary cases."""

import random

import pytest

from bert_tf.data.ner import to_bio
from bert_tf.metrics.ner import get_chunks, ner_metrics


def test_chunks_by_hand():
    assert get_chunks(["B-PER", "I-PER", "O", "B-LOC"]) == [("PER", 0, 1), ("LOC", 3, 3)]
    # I- after O (or at the start) begins a chunk, as in conlleval: IOB1 reads as it should.
    assert get_chunks(["I-PER", "I-PER", "O", "I-LOC"]) == [("PER", 0, 1), ("LOC", 3, 3)]
    assert get_chunks(["I-ORG", "B-ORG", "I-ORG"]) == [("ORG", 0, 0), ("ORG", 1, 2)]
    # A type change mid-chunk closes it and opens another.
    assert get_chunks(["B-PER", "I-LOC", "I-LOC"]) == [("PER", 0, 0), ("LOC", 1, 2)]
    # Adjacent single-token chunks, and a chunk running to the sentence end.
    assert get_chunks(["B-PER", "B-PER", "O", "B-ORG", "I-ORG"]) == [
        ("PER", 0, 0), ("PER", 1, 1), ("ORG", 3, 4)]
    assert get_chunks(["O", "O"]) == [] and get_chunks([]) == []


def test_bmes_and_bioes_chunks_by_hand():
    # BMES (MSRA): M- is inside, E- ends, S- is a single-token chunk.
    assert get_chunks(["B-NT", "M-NT", "E-NT", "S-NR", "O", "S-NS", "B-NS", "E-NS"]) == [
        ("NT", 0, 2), ("NR", 3, 3), ("NS", 5, 5), ("NS", 6, 7)]
    # BIOES: after E- or S- a new chunk starts even with I- of the same type; E- after O too.
    assert get_chunks(["B-PER", "E-PER", "S-PER", "I-PER", "O", "E-LOC"]) == [
        ("PER", 0, 1), ("PER", 2, 2), ("PER", 3, 3), ("LOC", 5, 5)]
    assert get_chunks(["B-LOC", "I-LOC", "E-LOC", "B-LOC", "E-LOC"]) == [
        ("LOC", 0, 2), ("LOC", 3, 4)]


GOLD = [
    ["B-PER", "I-PER", "O", "B-LOC", "O", "B-ORG", "I-ORG", "I-ORG"],
    ["B-MISC", "O", "B-PER", "B-PER", "O"],
    ["B-LOC", "I-LOC", "O"],
    ["O", "O"],
    ["I-PER", "O"],
]
PRED = [
    ["B-PER", "I-PER", "O", "I-LOC", "O", "B-ORG", "I-ORG", "O"],
    ["B-MISC", "O", "B-PER", "I-PER", "O"],
    ["B-LOC", "I-ORG", "O"],
    ["O", "I-PER"],
    ["I-PER", "O"],
]
# Gold chunks: 1: PER(0-1) LOC(3) ORG(5-7, at the end); 2: MISC(0) PER(2) PER(3); 3: LOC(0-1);
#              5: PER(0) (I- at the start) -> 8: PER 4, LOC 2, ORG 1, MISC 1.
# Predicted:   1: PER(0-1) ok, LOC(3) ok (I- after O starts a chunk), ORG(5-6) wrong end;
#              2: MISC(0) ok, PER(2-3) wrong; 3: LOC(0) and ORG(1) (type change), both wrong;
#              4: PER(1) spurious; 5: PER(0) ok, and not merged with sentence 4's PER(1)
#              across the boundary -> 9: PER 4, LOC 2, ORG 2, MISC 1; correct 4: PER 2, LOC 1,
#              MISC 1.
# P = 4/9, R = 4/8, F1 = 2PR/(P+R) = 8/17. Tokens: 20, differing 5 (1: two, 2, 3, 4: one
# each) -> accuracy 15/20.


def test_overall_and_per_type_by_hand():
    result = ner_metrics(GOLD, PRED)
    assert result["precision"] == pytest.approx(4 / 9)
    assert result["recall"] == pytest.approx(0.5)
    assert result["f1"] == pytest.approx(8 / 17)
    assert result["accuracy"] == pytest.approx(0.75)
    assert (result["num_gold"], result["num_predicted"], result["num_correct"]) == (8, 9, 4)
    per_type = result["per_type"]
    assert list(per_type) == ["LOC", "MISC", "ORG", "PER"]
    assert per_type["PER"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 4,
                               "predicted": 4}
    assert per_type["LOC"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2,
                               "predicted": 2}
    assert per_type["ORG"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1,
                               "predicted": 2}
    assert per_type["MISC"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1,
                                "predicted": 1}


def test_bmes_metrics_by_hand():
    gold = ["B-NT", "M-NT", "E-NT", "O", "S-NR", "B-NS", "E-NS"]
    pred = ["B-NT", "M-NT", "E-NT", "O", "B-NR", "E-NR", "S-NS"]
    # Gold NT(0-2) NR(4) NS(5-6); predicted NT(0-2) ok, NR(4-5) and NS(6) wrong: 1/3, 1/3.
    result = ner_metrics(gold, pred)
    assert (result["precision"], result["recall"], result["f1"]) == pytest.approx((1 / 3,) * 3)
    assert result["accuracy"] == pytest.approx(4 / 7)  # tags 4, 5 and 6 differ
    # The same chunks after conversion to BIO.
    converted = ner_metrics(to_bio(gold), to_bio(pred))
    assert (converted["num_correct"], converted["num_gold"], converted["num_predicted"]) == (1, 3, 3)


def test_edge_cases():
    assert ner_metrics([["O", "O"]], [["O", "O"]])["f1"] == 0.0  # nothing to find
    perfect = ner_metrics([GOLD[0]], [GOLD[0]])
    assert perfect["f1"] == perfect["precision"] == perfect["recall"] == 1.0
    with pytest.raises(ValueError, match="sentence 0"):
        ner_metrics([["O"]], [["O", "O"]])
    with pytest.raises(ValueError, match="2 gold sentences but 1"):
        ner_metrics([["O"], ["O"]], [["O"]])
    with pytest.raises(ValueError, match="'X-PER'"):
        get_chunks(["X-PER"])


def _reference_bio_chunks(tags):
    """An independent reading of BIO/IOB1 tags: a chunk starts at B-, or at I- that does
    not continue an open chunk of its type; it ends before O, B- or another type."""
    chunks, open_type, start = [], None, 0
    for i, tag in enumerate(tags + ["O"]):
        kind = tag[2:] if tag != "O" else None
        continues = tag.startswith("I-") and open_type == kind
        if open_type is not None and not continues:
            chunks.append((open_type, start, i - 1))
            open_type = None
        if kind is not None and not continues:
            open_type, start = kind, i
    return chunks


def test_chunks_equal_an_independent_reading_on_random_tags():
    rng = random.Random(0)
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    for _ in range(2000):
        sequence = [rng.choice(tags) for _ in range(rng.randint(0, 12))]
        assert get_chunks(sequence) == _reference_bio_chunks(sequence), sequence
