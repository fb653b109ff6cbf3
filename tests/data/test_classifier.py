"""Classifier data: every processor on the real files (counts, labels), features equal to
Google's `run_classifier.convert_single_example` (subprocess oracle), bad input named."""

import json
import subprocess
import sys

import pytest

from bert_tf.data import classifier
from bert_tf.data.classifier import InputExample, convert_example_to_features, get_processor
from bert_tf.errors import DataError, UserError
from bert_tf.tokenization import FullTokenizer
from conftest import ROOT, need, run_oracle

UNCASED = "bert_google/uncased_L-12_H-768_A-12/vocab.txt"
CHINESE = "bert_google/chinese_L-12_H-768_A-12/vocab.txt"

# task, folder, (train, dev, test) example counts of the files in ../shared/data (None: the
# split is not there), labels seen in the labelled splits.
COUNTS = [
    ("mrpc", "glue/MRPC", (3668, 408, 1725), {"0", "1"}),
    ("cola", "glue/CoLA", (8551, 1043, 1063), {"0", "1"}),
    ("sst-2", "glue/SST-2", (67349, 872, 1821), {"0", "1"}),
    ("rte", "glue/RTE", (2490, 277, 3000), {"entailment", "not_entailment"}),
    ("sts-b", "glue/STS-B", (5749, 1500, 1379), None),
    ("wnli", "glue/WNLI", (635, 71, 146), {"0", "1"}),
    ("xnli", "xnli_zh", (None, 2490, 5010), {"contradiction", "entailment", "neutral"}),
    ("lcqmc", "lcqmc", (None, 8802, 12500), {"0", "1"}),
    ("chnsenticorp", "chnsenticorp", (9600, 1200, 1200), {"0", "1"}),
]


@pytest.mark.parametrize("task, folder, counts, labels", COUNTS, ids=[c[0] for c in COUNTS])
def test_processor_reads_the_real_files(task, folder, counts, labels):
    data_dir = need(folder)
    processor = get_processor(task)
    seen = set()
    for split, count in zip(("train", "dev", "test"), counts):
        if count is None:
            with pytest.raises(DataError, match="--data_dir"):
                getattr(processor, f"get_{split}_examples")(str(data_dir))
            continue
        examples = getattr(processor, f"get_{split}_examples")(str(data_dir))
        assert len(examples) == count, split
        assert all(e.text_a for e in examples)
        assert len({e.guid for e in examples}) == count
        is_pair = task not in ("cola", "sst-2", "chnsenticorp")
        assert all(bool(e.text_b) == is_pair for e in examples)
        if split != "test" or task in ("xnli", "lcqmc"):  # these two label their test sets
            seen |= {e.label for e in examples}
        else:
            assert all(e.label is None for e in examples)
    if labels is None:  # STS-B: float similarity scores in [0, 5]
        assert processor.is_regression and processor.get_labels() == []
        assert all(isinstance(x, float) and 0 <= x <= 5 for x in seen)
        assert len(seen) > 100
    else:
        assert not processor.is_regression
        assert seen == labels == set(processor.get_labels())


def test_first_rows_are_read_from_the_right_columns():
    mrpc = get_processor("MRPC").get_dev_examples(str(need("glue/MRPC")))[0]
    assert mrpc.label == "1" and mrpc.text_a.startswith("He said the foodservice pie")
    assert mrpc.text_b.startswith('" The foodservice pie business does not fit')
    cola = get_processor("cola").get_train_examples(str(need("glue/CoLA")))[0]
    assert (cola.text_a, cola.text_b, cola.label) == (
        "Our friends won't buy this analysis, let alone the next one we propose.", None, "1")
    stsb = get_processor("stsb").get_dev_examples(str(need("glue/STS-B")))[1]
    assert (stsb.text_a, stsb.text_b, stsb.label) == (
        "A young child is riding a horse.", "A child is riding a horse.", 4.75)
    senti = get_processor("ChnSentiCorp")
    dev = senti.get_dev_examples(str(need("chnsenticorp")))[0]
    train = senti.get_train_examples(str(need("chnsenticorp")))[0]
    assert dev.label == "1" and dev.text_a.startswith("這間酒店環境和服務態度亦算不錯")
    assert train.label == "1" and train.text_a.startswith("选择珠江花园的原因就是方便")
    xnli = get_processor("xnli").get_dev_examples(str(need("xnli_zh")))[1]
    assert (xnli.text_a, xnli.text_b, xnli.label) == ("他说，妈妈，我回来了。", "他没说一句话。",
                                                     "contradiction")


def _write(path, rows):
    path.write_text("".join("\t".join(row) + "\n" for row in rows), encoding="utf-8")


def test_mnli_matched_and_mismatched_layouts(tmp_path):
    header = ["index", "promptID", "pairID", "genre", "s1_bp", "s2_bp", "s1_p", "s2_p",
              "sentence1", "sentence2"]
    row = ["0", "1", "1e", "fiction", "(", "(", "(", "(", "The cat sat.", "A cat sat."]
    _write(tmp_path / "train.tsv", [header + ["label1", "gold_label"],
                                    row + ["neutral", "neutral"]])
    for name, label in (("dev_matched.tsv", "entailment"), ("dev_mismatched.tsv", "contradiction")):
        _write(tmp_path / name, [header + ["l1", "l2", "l3", "l4", "l5", "gold_label"]]
               + [row + ["x"] * 5 + [label]] * 2)
    for name in ("test_matched.tsv", "test_mismatched.tsv"):
        _write(tmp_path / name, [header, row, row, row])
    matched, mismatched = get_processor("mnli"), get_processor("mnli-mm")
    assert [e.label for e in matched.get_train_examples(str(tmp_path))] == ["neutral"]
    assert [e.label for e in matched.get_dev_examples(str(tmp_path))] == ["entailment"] * 2
    assert [e.label for e in mismatched.get_dev_examples(str(tmp_path))] == ["contradiction"] * 2
    test = mismatched.get_test_examples(str(tmp_path))
    assert len(test) == 3 and test[0].text_a == "The cat sat." and test[0].label is None
    assert matched.get_labels() == ["contradiction", "entailment", "neutral"]


def test_xnli_reads_contradictory_as_contradiction(tmp_path):
    _write(tmp_path / "train.tsv", [["premise", "hypo", "label"], ["a", "b", "contradictory"],
                                    ["c", "d", "neutral"]])
    labels = [e.label for e in get_processor("xnli").get_train_examples(str(tmp_path))]
    assert labels == ["contradiction", "neutral"]


# ---------------------------------------------------------------------- bad input
def test_missing_split_file_names_file_and_flag(tmp_path):
    with pytest.raises(DataError) as e:
        get_processor("rte").get_dev_examples(str(tmp_path))
    assert str(tmp_path / "dev.tsv") in str(e.value) and "--data_dir" in str(e.value)


def test_wrong_column_count_names_file_and_line(tmp_path):
    _write(tmp_path / "train.tsv", [["index", "sentence1", "sentence2", "label"],
                                    ["0", "a", "b", "entailment"], ["1", "a b", "entailment"]])
    with pytest.raises(DataError, match=r"train\.tsv, line 3: 3 tab-separated columns, expected 4"):
        get_processor("rte").get_train_examples(str(tmp_path))


def test_unknown_label_names_file_line_and_label(tmp_path):
    _write(tmp_path / "dev.txt", [["q1", "q2", "1"], ["q3", "q4", "2"]])
    with pytest.raises(DataError, match=r"dev\.txt, line 2: label '2' is not one of"):
        get_processor("lcqmc").get_dev_examples(str(tmp_path))
    _write(tmp_path / "train.tsv", [["a"] * 9 + ["score"], ["a"] * 9 + ["high"]])
    with pytest.raises(DataError, match=r"train\.tsv, line 2: label 'high' is not a number"):
        get_processor("sts-b").get_train_examples(str(tmp_path))


def test_other_bad_files(tmp_path):
    (tmp_path / "train.tsv").write_text("label\ttext_a\n", encoding="utf-8")
    with pytest.raises(DataError, match="holds no examples"):
        get_processor("chnsenticorp").get_train_examples(str(tmp_path))
    (tmp_path / "dev.tsv").write_text("qid\tlabel\tsentence\n0\t1\tgood\n", encoding="utf-8")
    with pytest.raises(DataError, match="'text_a' column"):
        get_processor("chnsenticorp").get_dev_examples(str(tmp_path))
    (tmp_path / "test.tsv").write_bytes(b"index\tsentence\n0\t\xff\xfe bad\n")
    with pytest.raises(DataError, match="not UTF-8"):
        get_processor("sst-2").get_test_examples(str(tmp_path))


def test_unknown_task_lists_the_known_ones():
    with pytest.raises(UserError, match="--task_name=qqp: unknown task; known tasks: chnsenticorp, "
                                        "cola, lcqmc, mnli, mnli-mm, mrpc, rte, sst-2, sts-b"):
        get_processor("qqp")


def test_register_processor(monkeypatch, tmp_path):
    monkeypatch.setattr(classifier, "PROCESSORS", dict(classifier.PROCESSORS))

    class Topic(classifier.TsvProcessor):
        name = "topic"
        labels = ("sports", "politics")
        layout = classifier.TsvLayout(text_a=1, label=0, header=False, columns=2)

    classifier.register_processor("Topic", Topic)
    _write(tmp_path / "train.tsv", [["sports", "a goal"], ["politics", "a vote"]])
    examples = get_processor("topic").get_train_examples(str(tmp_path))
    assert [(e.guid, e.text_a, e.label) for e in examples] == [
        ("train-1", "a goal", "sports"), ("train-2", "a vote", "politics")]
    classifier.register_processor("topic", Topic)  # the same class again: fine
    with pytest.raises(ValueError, match="already registered"):
        classifier.register_processor("mrpc", Topic)
    with pytest.raises(TypeError):
        classifier.register_processor("x", object)


# ---------------------------------------------------------------------- features
@pytest.fixture(scope="module")
def uncased():
    return FullTokenizer(need(UNCASED), do_lower_case=True)


def test_features_follow_googles_layout(uncased):
    example = InputExample("x", "Is this Jacksonville?", "No it is not.", "1")
    f = convert_example_to_features(example, ["0", "1"], 16, uncased)
    tokens = uncased.convert_ids_to_tokens(f.input_ids[:sum(f.input_mask)])
    assert tokens == ["[CLS]", "is", "this", "jacksonville", "?", "[SEP]", "no", "it", "is",
                      "not", ".", "[SEP]"]
    assert f.segment_ids == [0] * 6 + [1] * 6 + [0] * 4
    assert f.input_mask == [1] * 12 + [0] * 4 and f.input_ids[12:] == [0] * 4
    assert f.label_id == 1 and f.is_real_example
    # Longest first, the second segment on a tie: 9 + 3 pieces into 16 - 3 = 13 -> 9 + 3;
    # into 10 - 3 = 7 -> 4 + 3.
    long = InputExample("y", "one two three four five six seven eight nine", "a b c", "0")
    short = convert_example_to_features(long, ["0", "1"], 10, uncased)
    assert uncased.convert_ids_to_tokens(short.input_ids) == [
        "[CLS]", "one", "two", "three", "four", "[SEP]", "a", "b", "c", "[SEP]"]
    regression = convert_example_to_features(InputExample("z", "a", "b", "3.8"), [], 8, uncased,
                                             is_regression=True)
    assert regression.label_id == 3.8 and isinstance(regression.label_id, float)
    unlabelled = convert_example_to_features(InputExample("t", "a", None, None), ["0", "1"], 8,
                                             uncased)
    assert unlabelled.label_id == 0
    with pytest.raises(DataError, match="example x: label '2' is not in the label list"):
        convert_example_to_features(InputExample("x", "a", None, "2"), ["0", "1"], 8, uncased)
    with pytest.raises(UserError, match="--max_seq_length=2"):
        convert_example_to_features(example, ["0", "1"], 2, uncased)


def test_pad_to_batch(uncased):
    features = [convert_example_to_features(InputExample(str(i), "a b", None, "0"), ["0", "1"], 8,
                                            uncased) for i in range(5)]
    padded = classifier.pad_to_batch(features, 4)
    assert len(padded) == 8 and [f.is_real_example for f in padded] == [True] * 5 + [False] * 3
    assert padded[7].input_ids == [0] * 8 and padded[7].label_id == 0
    assert len(classifier.pad_to_batch(features, 5)) == 5


def _google_features(vocab, lower, examples, label_list, lengths, tmp_path, processor=None):
    request = tmp_path / "request.json"
    request.write_text(json.dumps({
        "vocab_file": str(vocab), "do_lower_case": lower, "max_seq_lengths": lengths,
        "label_list": label_list, "processor": processor,
        "examples": [[e.guid, e.text_a, e.text_b, e.label] for e in examples]}))
    run_oracle("google_classifier.py", request, tmp_path / "out.json")
    return json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))


def _ours(examples, label_list, length, tokenizer):
    features = classifier.convert_examples_to_features(examples, label_list, length, tokenizer)
    return [[f.input_ids, f.input_mask, f.segment_ids, f.label_id] for f in features]


def test_english_tasks_equal_googles_processor_and_features(uncased, tmp_path):
    """All of MRPC dev (pairs) and the first 100 CoLA and 50 SST-2 dev sentences, at 128
    and at 20 (most pairs truncated), plus the corner cases of Google's code: an empty or
    vanishing second text makes a single-segment input."""
    mrpc_dir = str(need("glue/MRPC"))
    mrpc = get_processor("mrpc").get_dev_examples(mrpc_dir)
    singles = (get_processor("cola").get_dev_examples(str(need("glue/CoLA")))[:100]
               + get_processor("sst-2").get_dev_examples(str(need("glue/SST-2")))[:50])
    corner = [InputExample("c1", "hello there", "\x01", "0"), InputExample("c2", "", "x y", "1"),
              InputExample("c3", "word " * 40, "", "0"), InputExample("c4", "a b", "c d", "1")]
    examples = mrpc + singles + corner
    google = _google_features(need(UNCASED), True, examples, ["0", "1"], [128, 20], tmp_path,
                              {"task": "mrpc", "data_dir": mrpc_dir, "split": "dev"})
    # Google's guids count rows after the header ("dev-1"), ours count file lines ("dev-2").
    assert [g[1:] for g in google["examples"]] == [[e.text_a, e.text_b, e.label] for e in mrpc]
    for length in (128, 20):
        ours = _ours(examples, ["0", "1"], length, uncased)
        for example, mine, theirs in zip(examples, ours, google["features"][str(length)]):
            assert mine == theirs, (length, example.guid)
    assert sum(sum(f[1]) == 20 for f in google["features"]["20"]) > 350  # truncation exercised


def test_chinese_tasks_equal_googles_features(tmp_path):
    """150 LCQMC pairs and 50 ChnSentiCorp reviews (mostly longer than 64 pieces), with the
    Chinese vocab."""
    chinese = FullTokenizer(need(CHINESE), do_lower_case=True)
    examples = (get_processor("lcqmc").get_dev_examples(str(need("lcqmc")))[:150]
                + get_processor("chnsenticorp").get_dev_examples(str(need("chnsenticorp")))[:50])
    google = _google_features(need(CHINESE), True, examples, ["0", "1"], [64], tmp_path)
    assert _ours(examples, ["0", "1"], 64, chinese) == google["features"]["64"]


def test_written_records_parse_back(uncased, tmp_path):
    from bert_tf import records
    import tensorflow as tf
    examples = [InputExample("a", "the cat", "a dog", "1"), InputExample("b", "yes", None, "0")]
    path = str(tmp_path / "train.tfrecord")
    assert classifier.write_features(examples, ["0", "1"], 8, uncased, path) == 2
    serialized = tf.constant([r.numpy() for r in tf.data.TFRecordDataset(path)])
    parsed = records.parse_classifier(serialized, 8)
    expected = classifier.convert_examples_to_features(examples, ["0", "1"], 8, uncased)
    assert parsed["input_ids"].dtype == tf.int32 and parsed["label_ids"].shape == [2]
    assert parsed["input_ids"].numpy().tolist() == [f.input_ids for f in expected]
    assert parsed["segment_ids"].numpy().tolist() == [f.segment_ids for f in expected]
    assert parsed["label_ids"].numpy().tolist() == [1, 0]
    assert parsed["is_real_example"].numpy().tolist() == [1, 1]
    padding = classifier.padding_features(8, is_regression=True)
    one = records.parse_classifier(tf.constant(records.classifier_example(padding)), 8,
                                   is_regression=True)
    assert one["label_ids"].dtype == tf.float32 and one["is_real_example"].numpy() == 0
    regression = convert_example_to_features(InputExample("r", "a", "b", "2.5"), [], 8, uncased,
                                             is_regression=True)
    one = records.parse_classifier(tf.constant(records.classifier_example(regression)), 8, True)
    assert one["label_ids"].numpy() == pytest.approx(2.5)


def test_data_modules_do_not_import_tensorflow():
    code = ("import sys, bert_tf.data.classifier, bert_tf.data.ner, bert_tf.metrics.classification,"
            " bert_tf.metrics.ner; assert 'tensorflow' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
