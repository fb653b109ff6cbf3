"""NER data: readers on the real files (sentence counts, scheme conversion), WordPiece
alignment on a hand example, predictions back to words and to the column format."""

import pytest

from bert_tf.data import ner
from bert_tf.data.ner import NerSentence, convert_sentence_to_features, iob1_to_bio, to_bio
from bert_tf.errors import DataError, UserError
from bert_tf.metrics.ner import get_chunks
from bert_tf.tokenization import FullTokenizer
from conftest import need

UNCASED = "bert_google/uncased_L-12_H-768_A-12/vocab.txt"
CONLL_LABELS = ["O", "B-LOC", "B-MISC", "B-ORG", "B-PER", "I-LOC", "I-MISC", "I-ORG", "I-PER"]


def _is_bio(labels):
    """Every I-X follows B-X or I-X."""
    previous = "O"
    for tag in labels:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            return False
        previous = tag
    return True


def test_iob1_to_bio_by_hand():
    assert iob1_to_bio(["I-PER", "I-PER", "O", "I-LOC"]) == ["B-PER", "I-PER", "O", "B-LOC"]
    # IOB1's B- marks a chunk right after one of the same type: it stays.
    assert iob1_to_bio(["I-ORG", "B-ORG", "I-ORG", "O"]) == ["B-ORG", "B-ORG", "I-ORG", "O"]
    # A type change inside a run of I- starts a new chunk.
    assert iob1_to_bio(["I-MISC", "I-PER", "I-PER"]) == ["B-MISC", "B-PER", "I-PER"]
    assert iob1_to_bio([]) == [] and iob1_to_bio(["O", "O"]) == ["O", "O"]


def test_bmes_bioes_bios_to_bio_by_hand():
    assert to_bio(["B-NT", "M-NT", "M-NT", "E-NT", "O", "S-NR", "S-NR"]) == [
        "B-NT", "I-NT", "I-NT", "I-NT", "O", "B-NR", "B-NR"]
    assert to_bio(["B-LOC", "I-LOC", "E-LOC", "S-PER", "B-PER", "I-PER"]) == [
        "B-LOC", "I-LOC", "I-LOC", "B-PER", "B-PER", "I-PER"]


@pytest.mark.parametrize("split, count, tokens", [("train", 14041, 203621),
                                                   ("dev", 3250, 51362), ("test", 3453, 46435)])
def test_conll2003_splits(split, count, tokens):
    iob1 = ner.read_column_file(str(need(f"conll2003/{ner.NER_TASKS['conll2003'].files[split]}")))
    sentences = ner.read_ner_split("conll2003", str(need("conll2003")), split)
    assert len(sentences) == len(iob1) == count
    assert sum(len(s.words) for s in sentences) == tokens
    assert all(s.words != ["-DOCSTART-"] for s in sentences)
    assert ner.labels_from_sentences(sentences) == CONLL_LABELS
    for before, after in zip(iob1, sentences):
        assert _is_bio(after.labels)
        assert get_chunks(before.labels) == get_chunks(after.labels)  # the same entities
    if split == "train":
        first = sentences[0]
        assert first.words == ["EU", "rejects", "German", "call", "to", "boycott", "British",
                               "lamb", "."]
        assert first.labels == ["B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "O"]
        assert first.source == "eng.train:1"
        assert sentences[1].labels == ["B-PER", "I-PER"]


def test_msra_bmes_and_json_agree():
    from_bmes = ner.read_msra(str(need("msra_ner/test.ner")))
    from_json = ner.read_msra(str(need("msra_ner/test.json")))
    assert len(from_bmes) == len(from_json) == 4365
    assert [(s.words, s.labels) for s in from_bmes] == [(s.words, s.labels) for s in from_json]
    assert all(_is_bio(s.labels) for s in from_bmes)
    # B- plus S- counts of the BMES file: NR 1,912 + 61, NS 2,432 + 445, NT 1,324 + 7.
    chunks = [c[0] for s in from_bmes for c in get_chunks(s.labels)]
    assert {k: chunks.count(k) for k in set(chunks)} == {"NR": 1973, "NS": 2877, "NT": 1331}
    assert from_bmes[0].words[:4] == ["中", "共", "中", "央"]
    assert from_bmes[0].labels[:5] == ["B-NT", "I-NT", "I-NT", "I-NT", "O"]
    assert ner.read_label_file(str(need("msra_ner/labels.txt"))) == [
        "O", "B-NR", "B-NS", "B-NT", "I-NR", "I-NS", "I-NT", "S-NR", "S-NS", "S-NT"]
    with pytest.raises(DataError, match="--data_dir"):
        ner.read_ner_split("msra", str(need("msra_ner")), "train")


def test_peoples_daily_splits():
    dev = ner.read_ner_split("peoples_daily", str(need("peoples_daily_ner")), "dev")
    test = ner.read_ner_split("PEOPLES_DAILY", str(need("peoples_daily_ner")), "test")
    assert (len(dev), len(test)) == (2318, 4636)
    assert ner.labels_from_sentences(test, dev) == ner.labels_from_sentences(dev, test) == [
        "O", "B-LOC", "B-ORG", "B-PER", "I-LOC", "I-ORG", "I-PER"]
    assert all(len(w) == 1 for s in dev for w in s.words)


# ---------------------------------------------------------------------- bad input
def test_reader_errors_name_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("EU NNP I-NP I-ORG\nrejects VBZ I-VP\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.txt, line 2: 3 columns, expected 4"):
        ner.read_conll2003(str(path))
    path.write_text("a O\n\nb B-X\nc Q-X\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.txt, line 4: label 'Q-X' is not O or"):
        ner.read_column_file(str(path))
    path.write_text("word\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"line 1: one column"):
        ner.read_column_file(str(path))
    json_path = tmp_path / "bad.json"
    json_path.write_text('{"text": ["a"], "label": ["O"]}\n{"text": ["a", "b"], "label": ["O"]}\n',
                         encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.json, line 2: 2 characters but 1 labels"):
        ner.read_msra(str(json_path))
    json_path.write_text('{"words": ["a"]}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"line 1: expected a JSON object"):
        ner.read_msra(str(json_path))
    with pytest.raises(DataError, match=r"no such file \(check --data_dir\)"):
        ner.read_peoples_daily(str(tmp_path / "absent"))
    with pytest.raises(UserError, match="unknown NER task; known tasks: conll2003, msra"):
        ner.read_ner_split("ontonotes", str(tmp_path), "train")


def test_label_files(tmp_path):
    path = str(tmp_path / "labels.txt")
    ner.write_label_file(path, CONLL_LABELS)
    assert ner.read_label_file(path) == CONLL_LABELS
    (tmp_path / "dup.txt").write_text("O\nB-X\nO\n", encoding="utf-8")
    with pytest.raises(DataError, match="labels listed twice: O"):
        ner.read_label_file(str(tmp_path / "dup.txt"))


# ---------------------------------------------------------------------- alignment
@pytest.fixture(scope="module")
def uncased():
    return FullTokenizer(need(UNCASED), do_lower_case=True)


LABELS = ["O", "B-LOC", "B-PER", "I-LOC", "I-PER"]
SENTENCE = NerSentence(["Nadim", "Ladki", "flew", "to", "Heathrow", "on", "1996-08-22", "\x01"],
                       ["B-PER", "I-PER", "O", "O", "B-LOC", "O", "O", "O"], "hand:1")


def test_label_on_first_piece_by_hand(uncased):
    f = convert_sentence_to_features(SENTENCE, LABELS, 20, uncased)
    # "\x01" tokenizes to nothing and becomes [UNK], so every word keeps a position.
    assert uncased.convert_ids_to_tokens(f.input_ids[:17]) == [
        "[CLS]", "nad", "##im", "lad", "##ki", "flew", "to", "heath", "##row", "on",
        "1996", "-", "08", "-", "22", "[UNK]", "[SEP]"]
    assert f.input_ids[17:] == [0, 0, 0] and f.input_mask == [1] * 17 + [0] * 3
    assert f.segment_ids == [0] * 20
    #                [CLS] nad ##im lad ##ki flew to heath ##row on 1996 - 08 - 22 [UNK] [SEP] pad
    assert f.label_ids == [0, 2, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    assert f.label_mask == [0, 1, 0, 1, 0, 1, 1, 1, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0]
    assert f.num_words == 8
    # The mask works the same with a {label: id} map and for unlabelled input.
    unlabelled = convert_sentence_to_features(NerSentence(SENTENCE.words, None), {"O": 0}, 20,
                                              uncased)
    assert unlabelled.label_mask == f.label_mask and unlabelled.label_ids == [0] * 20


def test_truncation_keeps_whole_first_pieces(uncased):
    # 6 pieces fit in 8 - 2: Nadim Ladki flew to; Heathrow is cut off.
    f = convert_sentence_to_features(SENTENCE, LABELS, 8, uncased)
    assert uncased.convert_ids_to_tokens(f.input_ids) == [
        "[CLS]", "nad", "##im", "lad", "##ki", "flew", "to", "[SEP]"]
    assert f.num_words == 4 and f.label_mask == [0, 1, 0, 1, 0, 1, 1, 0]
    # 7 fit in 9 - 2: Heathrow keeps its first piece, so it keeps its label.
    f = convert_sentence_to_features(SENTENCE, LABELS, 9, uncased)
    assert uncased.convert_ids_to_tokens(f.input_ids)[-2:] == ["heath", "[SEP]"]
    assert f.num_words == 5 and f.label_ids[7] == 1 and f.label_mask[7] == 1


def test_predictions_back_to_words(uncased):
    f = convert_sentence_to_features(SENTENCE, LABELS, 20, uncased)
    # A model that predicts the gold id at first pieces and junk elsewhere.
    predicted = [gold if mask else 3 for gold, mask in zip(f.label_ids, f.label_mask)]
    assert ner.predictions_to_words(predicted, f.label_mask, LABELS, len(SENTENCE.words)) == \
        SENTENCE.labels
    short = convert_sentence_to_features(SENTENCE, LABELS, 8, uncased)
    predicted = [2, 2, 4, 4, 4, 0, 0, 0]
    assert ner.predictions_to_words(predicted, short.label_mask, LABELS, 8) == [
        "B-PER", "I-PER", "O", "O", "O", "O", "O", "O"]  # the cut-off words get "O"
    with pytest.raises(ValueError):
        ner.predictions_to_words(predicted, short.label_mask, LABELS, 3)


def test_unknown_label_names_the_sentence(uncased):
    with pytest.raises(DataError, match=r"sentence \(hand:1\): label 'B-PER' is not in the label"):
        convert_sentence_to_features(SENTENCE, ["O", "B-LOC", "I-LOC"], 20, uncased)


def test_write_predictions_format(tmp_path):
    sentences = [NerSentence(["EU", "rejects", "German"], ["B-ORG", "O", "B-MISC"]),
                 NerSentence(["Peter"], ["B-PER"])]
    predictions = [["B-ORG", "O", "O"], ["B-PER"]]
    path = tmp_path / "predictions.txt"
    ner.write_predictions(str(path), sentences, predictions)
    assert path.read_text(encoding="utf-8") == (
        "EU B-ORG B-ORG\nrejects O O\nGerman B-MISC O\n\nPeter B-PER B-PER\n\n")
    assert [p.name for p in tmp_path.iterdir()] == ["predictions.txt"]  # no temporary left
    back = ner.read_column_file(str(path), label_column=2)
    assert [s.labels for s in back] == predictions
    ner.write_predictions(str(path), [NerSentence(["a", "b"], None)], [["O", "B-X"]])
    assert path.read_text(encoding="utf-8") == "a O\nb B-X\n\n"
    with pytest.raises(ValueError):
        ner.write_predictions(str(path), sentences, [["O"], ["O"]])


def test_tagger_records_parse_back(uncased):
    from bert_tf import records
    import tensorflow as tf
    f = convert_sentence_to_features(SENTENCE, LABELS, 20, uncased)
    parsed = records.parse_tagger(tf.constant([records.tagger_example(f)] * 2), 20)
    for name in ("input_ids", "input_mask", "segment_ids", "label_ids", "label_mask"):
        assert parsed[name].dtype == tf.int32
        assert parsed[name].numpy().tolist() == [getattr(f, name)] * 2
