"""SQuAD data path against Google's run_squad.py (bert-tensorflow 1.0.4, subprocess oracle).

Features are compared field for field with Google's (tokens, maps, ids, targets) on:
- the whole SQuAD v1.1 dev set at max_seq_length 384 / doc_stride 128 / max_query_length
  64, for training (first answer of each question) and for prediction;
- its first 10 articles at 128 / 64 / 32 (max_query_length 32: our doc_stride check wants
  doc_stride < 128 - max_query_length - 3);
- v2.0 data derived from the dev set (`squad_derive.derive_v2`: a third of the questions
  moved to another article's paragraph, unanswerable), its first 10 articles, 384 / 128 / 64;
- CMRC 2018 (Chinese: a paragraph is one "word"), 20 articles (8 for training: Google's
  answer-span search is cubic in the paragraph there);
- a crafted file of edge cases (answers inside words, accents, U+202F, no-break space,
  a word of no pieces, a 230-character word, many windows, a truncated question).
Prediction files are compared byte for byte given the same seeded random logits: two
paragraphs of every dev article (v1.1, and v2.0 at thresholds 0 and 1.5), CMRC, the edge
cases.

One oracle subprocess runs every Google job once per module (about 90 s; the file takes
about 2.5 minutes on 2 cores).
"""

import copy
import json
import random
import subprocess
import sys

import numpy as np
import pytest

from bert_tf import feature_cache, records
from bert_tf.data import squad, squad_derive
from bert_tf.errors import DataError, UserError
from bert_tf.tokenization import FullTokenizer
from conftest import ROOT, UNCASED_VOCAB, need, run_oracle

DEV = "squad_v1.1/dev-v1.1.json"
CMRC = "cmrc2018/cmrc2018_dev.json"
CHINESE_VOCAB = "bert_google/chinese_L-12_H-768_A-12/vocab.txt"
FIELDS = ("unique_id", "example_index", "doc_span_index", "tokens", "token_to_orig_map",
          "token_is_max_context", "input_ids", "input_mask", "segment_ids", "start_position",
          "end_position", "is_impossible")


def canonical_feature(f):
    """The oracle's line for a feature (tests/oracles/google_squad.py, same code)."""
    record = [f.unique_id, f.example_index, f.doc_span_index, f.tokens,
              [[k, v] for k, v in f.token_to_orig_map.items()],
              [[k, v] for k, v in f.token_is_max_context.items()],
              f.input_ids, f.input_mask, f.segment_ids, f.start_position, f.end_position,
              f.is_impossible]
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


# ---------------------------------------------------------------------- test data
def one_answer(dataset):
    """Google's training reader wants exactly one answer a question: keep the first."""
    dataset = copy.deepcopy(dataset)
    for article in dataset["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                qa["answers"] = qa["answers"][:1]
    return dataset


def head(dataset, articles, paragraphs=None):
    return {"version": dataset.get("version"),
            "data": [dict(a, paragraphs=a["paragraphs"][:paragraphs])
                     for a in dataset["data"][:articles]]}


LONG = " ".join(f"Sentence {i} tells of the river Thames (length {i * 7} km)." for i in range(30))


def paragraph(context, *questions):
    """questions: (id, question, answer text[, answer_start]); the start defaults to the
    answer's first occurrence."""
    qas = [{"id": q[0], "question": q[1],
            "answers": [{"text": q[2], "answer_start": q[3] if len(q) > 3 else context.index(q[2])}]}
           for q in questions]
    return {"context": context, "qas": qas}


EDGE = {"version": "1.1", "data": [{"title": "Edge", "paragraphs": [
    paragraph("The leader was John Smith (1895-1943). The Japanese electronics industry is the "
              "largest in the world.\u202fCafé  Müller\tserved naïve crème brûlée.\nEnd of text.",
              ("span", "When was John Smith born?", "1895"),
              ("subword", "What country exports electronics?", "Japan"),
              ("accents", "What did Café Müller serve?", "crème brûlée"),
              ("misplaced", "Who led?", "John Smith", 3),
              ("last", "End of what?", "text")),
    paragraph("A road of 100\u00a0km runs north. A \u200b b and c" + " x" * 4 + " " + "y" * 230 + " z.",
              ("nbsp", "How long is the road?", "100"),
              ("zero_pieces", "What is between a and b?", "\u200b"),
              ("long_word", "What comes after x?", "y" * 230)),
    paragraph(LONG,
              ("window_middle", "How long is the river Thames in sentence fifteen of this very "
               "long paragraph about rivers, lengths and kilometres?", "105 km"),
              ("window_end", "Which sentence is the last?", "Sentence 29")),
    paragraph("北京是中国的首都。 Beijing is the capital.", ("cjk", "首都是哪里？", "北京")),
]}]}


def edge_v2():
    dataset = copy.deepcopy(EDGE)
    paragraphs = dataset["data"][0]["paragraphs"]
    for paragraph in paragraphs:
        for qa in paragraph["qas"]:
            qa["is_impossible"] = False
    paragraphs[0]["qas"].append({"id": "impossible", "question": "Who won in 1999?",
                                 "answers": [], "is_impossible": True})
    return dataset


# ---------------------------------------------------------------------- the oracle, once
# name: (data set, vocab, max_seq_length, doc_stride, max_query_length, is_training, v2)
FEATURE_JOBS = {
    "v1_eval_384": ("dev", "uncased", 384, 128, 64, False, False),
    "v1_train_384": ("dev_train", "uncased", 384, 128, 64, True, False),
    "v1_eval_128": ("dev10", "uncased", 128, 64, 32, False, False),
    "v1_train_128": ("dev10_train", "uncased", 128, 64, 32, True, False),
    "v2_train_384": ("v2_10", "uncased", 384, 128, 64, True, True),
    "v2_eval_384": ("v2_10", "uncased", 384, 128, 64, False, True),
    "cmrc_train": ("cmrc8", "chinese", 384, 128, 64, True, False),
    "cmrc_eval": ("cmrc", "chinese", 384, 128, 64, False, False),
    "edge_train": ("edge", "uncased", 64, 16, 16, True, False),
    "edge_train_v2": ("edge_v2", "uncased", 64, 16, 16, True, True),
    "edge_eval": ("edge", "uncased", 64, 16, 16, False, False),
}
# name: (data set, vocab, max_seq_length, doc_stride, max_query_length, v2, threshold)
PREDICTION_JOBS = {
    "v1": ("dev2p", "uncased", 128, 64, 32, False, 0.0),
    "v1_384": ("dev2p", "uncased", 384, 128, 64, False, 0.0),
    "v2_t0": ("v2_2p", "uncased", 128, 64, 32, True, 0.0),
    "v2_t1.5": ("v2_2p", "uncased", 128, 64, 32, True, 1.5),
    "cmrc": ("cmrc", "chinese", 384, 128, 64, False, 0.0),
    "edge": ("edge", "uncased", 64, 16, 16, False, 0.0),
    "edge_v2": ("edge_v2", "uncased", 64, 16, 16, True, 0.0),
}
N_BEST, MAX_ANSWER = 20, 30


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Writes the data sets and logits, runs every Google job in one subprocess."""
    tmp = tmp_path_factory.mktemp("squad")
    dev = json.loads(need(DEV).read_text(encoding="utf-8"))
    cmrc = json.loads(need(CMRC).read_text(encoding="utf-8"))
    derived = one_answer(squad_derive.derive_v2(dev, seed=1, fraction=1 / 3))
    sets = {"dev": dev, "dev_train": one_answer(dev), "dev10": head(dev, 10),
            "dev10_train": one_answer(head(dev, 10)), "v2_10": head(derived, 10),
            "dev2p": head(dev, 48, 2), "v2_2p": head(derived, 48, 2),
            "cmrc": one_answer(head(cmrc, 20)), "cmrc8": one_answer(head(cmrc, 8)),
            "edge": EDGE, "edge_v2": edge_v2()}
    files = {}
    for name, dataset in sets.items():
        files[name] = tmp / f"{name}.json"
        files[name].write_text(json.dumps(dataset, ensure_ascii=False), encoding="utf-8")
    vocabs = {"uncased": str(need(UNCASED_VOCAB)), "chinese": str(need(CHINESE_VOCAB))}
    tokenizers = {name: FullTokenizer(path, do_lower_case=True) for name, path in vocabs.items()}
    jobs = []
    for name, (data, vocab, seq, stride, query, training, v2) in FEATURE_JOBS.items():
        jobs.append({"kind": "features", "input_file": str(files[data]), "vocab_file": vocabs[vocab],
                     "do_lower_case": True, "max_seq_length": seq, "doc_stride": stride,
                     "max_query_length": query, "is_training": training,
                     "version_2_with_negative": v2, "output": str(tmp / f"{name}.jsonl")})
    for seed, (name, (data, vocab, seq, stride, query, v2, threshold)) in enumerate(
            PREDICTION_JOBS.items()):
        examples = squad.read_squad_examples(files[data], False, v2)
        features = squad.convert_examples_to_features(examples, tokenizers[vocab], seq, stride,
                                                      query, False)
        rng = np.random.default_rng(seed)
        logits = {"unique_ids": np.array([f.unique_id for f in features]),
                  "start_logits": (rng.normal(size=(len(features), seq)) * 3).astype(np.float32),
                  "end_logits": (rng.normal(size=(len(features), seq)) * 3).astype(np.float32)}
        if v2:  # null scores (position 0) near the best spans' scores, so both win
            for key in ("start_logits", "end_logits"):
                logits[key][:, 0] = rng.normal(6.0, 3.0, size=len(features))
        np.savez(tmp / f"{name}.npz", **logits)
        jobs.append({"kind": "predictions", "input_file": str(files[data]),
                     "vocab_file": vocabs[vocab], "do_lower_case": True, "max_seq_length": seq,
                     "doc_stride": stride, "max_query_length": query,
                     "version_2_with_negative": v2, "null_score_diff_threshold": threshold,
                     "n_best_size": N_BEST, "max_answer_length": MAX_ANSWER,
                     "logits": str(tmp / f"{name}.npz"), "output_dir": str(tmp / f"google_{name}")})
    request = tmp / "request.json"
    request.write_text(json.dumps({"jobs": jobs}))
    run_oracle("google_squad.py", request, timeout=900)
    return {"tmp": tmp, "files": files, "tokenizers": tokenizers}


def first_difference(ours, google):
    mine, theirs = json.loads(ours), json.loads(google)
    for field, a, b in zip(FIELDS, mine, theirs):
        if a != b:
            return f"{field}: ours {str(a)[:300]} vs Google's {str(b)[:300]}"
    return "same values, different encoding"


@pytest.mark.parametrize("job", FEATURE_JOBS)
def test_features_equal_googles(setup, job):
    data, vocab, seq, stride, query, training, v2 = FEATURE_JOBS[job]
    examples = squad.read_squad_examples(setup["files"][data], training, v2)
    assert any(e.is_impossible for e in examples) == (training and v2)
    google_path = setup["tmp"] / f"{job}.jsonl"
    assert len(examples) == int((google_path.parent / f"{job}.jsonl.count").read_text())
    with open(google_path, encoding="utf-8") as google:
        def compare(feature):
            line = google.readline().rstrip("\n")
            mine = canonical_feature(feature)
            if mine != line:
                assert line, f"we made more features than Google (feature {feature.unique_id})"
                pytest.fail(f"feature {feature.unique_id} (example {feature.example_index}) "
                            f"differs: {first_difference(mine, line)}")

        count = squad.convert_examples_to_features(examples, setup["tokenizers"][vocab], seq,
                                                   stride, query, training, compare)
        assert google.readline() == "", "Google made more features"
    assert count > len(examples) * (1.2 if seq == 128 else 1.0)


def test_the_edge_cases_happen():
    """The crafted file does exercise what it was written for."""
    tokenizer = FullTokenizer(need(UNCASED_VOCAB))
    examples = squad.read_squad_examples(EDGE, True)
    by_id = {e.qas_id: e for e in examples}
    assert "misplaced" not in by_id and len(examples) == 10
    features = squad.convert_examples_to_features(examples, tokenizer, 64, 16, 16, True)
    answers = {}
    for f in features:
        qas_id = examples[f.example_index].qas_id
        if f.start_position:
            answers.setdefault(qas_id, " ".join(f.tokens[f.start_position:f.end_position + 1]))
    assert answers["span"] == "1895" and answers["subword"] == "japanese"
    assert answers["accents"].replace(" ##", "") == "creme brulee" and answers["nbsp"] == "100"
    assert answers["long_word"] == "[UNK]"
    windows = [f for f in features if examples[f.example_index].qas_id == "window_middle"]
    assert len(windows) > 5 and sum(1 for f in windows if f.start_position == 0) >= len(windows) - 2
    assert len(windows[0].tokens) - len(windows[0].token_to_orig_map) == 16 + 3


@pytest.mark.parametrize("job", PREDICTION_JOBS)
def test_predictions_byte_identical_to_googles(setup, job, tmp_path):
    data, vocab, seq, stride, query, v2, threshold = PREDICTION_JOBS[job]
    examples = squad.read_squad_examples(setup["files"][data], False, v2)
    features = squad.convert_examples_to_features(examples, setup["tokenizers"][vocab], seq,
                                                  stride, query, False)
    logits = np.load(setup["tmp"] / f"{job}.npz")
    results = [squad.RawResult(int(u), s, e) for u, s, e in
               zip(logits["unique_ids"], logits["start_logits"], logits["end_logits"])]
    names = ("predictions.json", "nbest_predictions.json", "null_odds.json")
    squad.write_predictions(examples, features, results, N_BEST, MAX_ANSWER, True,
                            *[tmp_path / n for n in names], version_2_with_negative=v2,
                            null_score_diff_threshold=threshold)
    google = setup["tmp"] / f"google_{job}"
    for name in names if v2 else names[:2]:
        assert (tmp_path / name).read_bytes() == (google / name).read_bytes(), name
    assert not (tmp_path / "null_odds.json").exists() or v2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names if v2 else names[:2])
    predictions = json.loads((tmp_path / "predictions.json").read_text())
    assert len(predictions) == len(examples) >= {"edge": 10, "cmrc": 70}.get(data.split("_")[0], 200)
    if v2:
        empty = sum(1 for p in predictions.values() if p == "")
        assert 0 < empty < len(predictions)
    if threshold:
        at_zero = json.loads((setup["tmp"] / "google_v2_t0" / "predictions.json").read_text())
        assert predictions != at_zero


def google_improve_answer_span(doc_tokens, input_start, input_end, tokenizer, orig_answer_text):
    """Google's _improve_answer_span as written (the oracle for our faster search)."""
    tok_answer_text = " ".join(tokenizer.tokenize(orig_answer_text))
    for new_start in range(input_start, input_end + 1):
        for new_end in range(input_end, new_start - 1, -1):
            if " ".join(doc_tokens[new_start:(new_end + 1)]) == tok_answer_text:
                return (new_start, new_end)
    return (input_start, input_end)


class SplitTokenizer:
    """Text -> its characters as pieces; "_" stands for a piece " ", "e" for an empty one."""

    def tokenize(self, text):
        return [{"_": " ", "e": ""}.get(c, c) for c in text]


def test_answer_span_search_equals_googles():
    rng = random.Random(5)
    tokenizer = SplitTokenizer()
    for trial in range(3000):
        alphabet = "ab_e" if trial % 3 == 0 else "abc"
        doc = SplitTokenizer().tokenize("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))))
        start = rng.randint(0, len(doc))
        end = rng.randint(start - 2, len(doc) - 1)
        answer = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 4)))
        assert squad.improve_answer_span(doc, start, end, tokenizer, answer) == \
            google_improve_answer_span(doc, start, end, tokenizer, answer), (doc, start, end, answer)


# ---------------------------------------------------------------------- our own rules
def test_training_with_several_answers_takes_the_first():
    dataset = head(json.loads(need(DEV).read_text(encoding="utf-8")), 2)
    assert squad.read_squad_examples(dataset, True) == squad.read_squad_examples(
        one_answer(dataset), True)


def test_misplaced_answer_is_skipped_with_a_warning(caplog):
    dataset = {"data": [{"paragraphs": [{"context": "Alpha beta gamma.", "qas": [
        {"id": "q1", "question": "?", "answers": [{"text": "delta", "answer_start": 6}]},
        {"id": "q2", "question": "?", "answers": [{"text": "beta", "answer_start": 6}]},
        {"id": "q3", "question": "?", "answers": [{"text": "gamma", "answer_start": 40}]}]}]}]}
    with caplog.at_level("WARNING"):
        examples = squad.read_squad_examples(dataset, True)
    assert [e.qas_id for e in examples] == ["q2"]
    assert (examples[0].start_position, examples[0].end_position) == (1, 1)
    assert "'q1'" in caplog.text and "'q3'" in caplog.text


def test_prediction_reading_ignores_answers_and_impossibility():
    dataset = {"data": [{"paragraphs": [{"context": "a b", "qas": [
        {"id": "q", "question": "?", "answers": [], "is_impossible": True}]}]}]}
    (example,) = squad.read_squad_examples(dataset, False, True)
    assert example == squad.SquadExample("q", "?", ["a", "b"])


def write(tmp_path, text):
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    return path


def test_not_json_names_the_file(tmp_path):
    path = write(tmp_path, '{"data": [')
    with pytest.raises(DataError, match=rf"{path}: not JSON .*line 1"):
        squad.read_squad_examples(path, False)
    with pytest.raises(DataError, match="cannot read"):
        squad.read_squad_examples(tmp_path / "missing.json", False)


def test_missing_data_and_bad_entries_are_named(tmp_path):
    with pytest.raises(DataError, match=r'bad.json: not a SQuAD file: expected \{"data"'):
        squad.read_squad_examples(write(tmp_path, '{"version": "1.1"}'), False)
    with pytest.raises(DataError, match=r"""data\[1\] \('B'\) has no "paragraphs" list"""):
        squad.read_squad_examples({"data": [{"title": "A", "paragraphs": []},
                                            {"title": "B"}]}, False)
    with pytest.raises(DataError, match=r'paragraphs\[0\] needs a "context" string'):
        squad.read_squad_examples({"data": [{"paragraphs": [{"qas": []}]}]}, False)
    with pytest.raises(DataError, match=r'qas\[1\] needs an "id" and a "question"'):
        squad.read_squad_examples({"data": [{"paragraphs": [{"context": "a", "qas": [
            {"id": 1, "question": "?"}, {"id": 2}]}]}]}, False)
    with pytest.raises(DataError, match=r"\('T'\) paragraphs\[0\] has an empty context"):
        squad.read_squad_examples({"data": [{"title": "T", "paragraphs": [
            {"context": " \n", "qas": [{"id": 1, "question": "?"}]}]}]}, False)
    with pytest.raises(DataError, match=r"""qas\[0\] \(id 'q'\): an answer needs a "text" """):
        squad.read_squad_examples({"data": [{"paragraphs": [{"context": "a", "qas": [
            {"id": "q", "question": "?", "answers": [{"text": "a", "answer_start": "0"}]}]}]}]},
            True)


def test_training_question_without_answer_is_an_error():
    dataset = {"data": [{"title": "T", "paragraphs": [{"context": "a b", "qas": [
        {"id": "q7", "question": "?", "answers": []}]}]}]}
    with pytest.raises(DataError, match=r"paragraphs\[0\] qas\[0\] \(id 'q7'\) has no answer"):
        squad.read_squad_examples(dataset, True)
    with pytest.raises(DataError, match="has no answer"):  # v2.0 data, flag forgotten
        dataset["data"][0]["paragraphs"][0]["qas"][0]["is_impossible"] = True
        squad.read_squad_examples(dataset, True, version_2_with_negative=False)
    assert squad.read_squad_examples(dataset, True, True)[0].is_impossible


def test_window_settings_are_checked():
    tokenizer = FullTokenizer(need(UNCASED_VOCAB))
    examples = squad.read_squad_examples(EDGE, False)
    with pytest.raises(UserError, match=r"--doc_stride=64 must be between 1 and 60.*--max_query_length"):
        squad.convert_examples_to_features(examples, tokenizer, 128, 64, 64, False)
    with pytest.raises(UserError, match="--doc_stride=0"):
        squad.convert_examples_to_features(examples, tokenizer, 128, 0, 64, False)
    with pytest.raises(UserError, match=r"--max_seq_length=67 must be greater than"):
        squad.convert_examples_to_features(examples, tokenizer, 67, 10, 64, False)


def test_missing_result_is_a_clear_error(tmp_path):
    tokenizer = FullTokenizer(need(UNCASED_VOCAB))
    examples = squad.read_squad_examples(EDGE, False)
    features = squad.convert_examples_to_features(examples, tokenizer, 64, 16, 16, False)
    results = [squad.RawResult(f.unique_id, [0.0] * 64, [0.0] * 64) for f in features[:-1]]
    with pytest.raises(DataError, match=f"no prediction for feature {features[-1].unique_id}"):
        squad.best_predictions(examples, features, results, 20, 30, True)


def test_v2_example_without_candidates_gets_the_nonce():
    """Google crashes here (no non-null entry); HuggingFace's fix: an "empty" entry first."""
    example = squad.SquadExample("q", "?", ["a"])
    feature = squad.InputFeatures(squad.UNIQUE_ID_START, 0, 0, ["[CLS]", "?", "[SEP]", "a", "[SEP]"],
                                  {3: 0}, {3: False}, [0] * 5, [1] * 5, [0] * 5)
    result = squad.RawResult(feature.unique_id, [1.0, 0, 0, 0, 0], [2.0, 0, 0, 0, 0])
    predictions, nbest, odds = squad.best_predictions([example], [feature], [result], 20, 30,
                                                      True, True, 0.0)
    assert predictions == {"q": ""} and odds == {"q": 3.0}
    assert [e["text"] for e in nbest["q"]] == ["empty", ""]


# ---------------------------------------------------------------------- records and cache
def test_records_round_trip_and_cache(tmp_path):
    import tensorflow as tf

    tokenizer = FullTokenizer(need(UNCASED_VOCAB))
    for training, data in ((True, edge_v2()), (False, EDGE)):
        examples = squad.read_squad_examples(data, training, True)
        features = squad.convert_examples_to_features(examples, tokenizer, 64, 16, 16, training)
        name = squad.cache_name("train" if training else "eval", 64, 16, 16)
        path = str(tmp_path / "cache" / f"{name}.tf_record")
        assert path.endswith("train-seq64-stride16-query16.tf_record" if training
                             else "eval-seq64-stride16-query16.tf_record")
        info = feature_cache.write(path, squad.serialized_features(iter(features), training),
                                   {"num_examples": len(examples)})
        assert feature_cache.read_metadata(path) == info
        assert info["num_features"] == len(features) and info["num_examples"] == len(examples)
        assert info["sha256"] == squad.features_fingerprint(features, training)
        batch = next(iter(tf.data.TFRecordDataset(path).batch(1000).map(
            lambda s: records.parse_squad(s, 64, training))))
        single = next(iter(tf.data.TFRecordDataset(path).map(
            lambda s: records.parse_squad(s, 64, training))))
        expected = {"unique_ids": [f.unique_id for f in features],
                    "input_ids": [f.input_ids for f in features],
                    "input_mask": [f.input_mask for f in features],
                    "segment_ids": [f.segment_ids for f in features]}
        if training:
            expected.update(start_positions=[f.start_position for f in features],
                            end_positions=[f.end_position for f in features],
                            is_impossible=[int(f.is_impossible) for f in features])
            assert any(expected["is_impossible"]) and any(expected["start_positions"])
        assert set(batch) == set(expected)
        for name, values in expected.items():
            assert batch[name].dtype == tf.int32
            np.testing.assert_array_equal(batch[name].numpy(), np.array(values), err_msg=name)
            np.testing.assert_array_equal(single[name].numpy(), np.array(values[0]), err_msg=name)
    assert feature_cache.read_metadata(str(tmp_path / "nothing.tf_record")) is None
    names = [f"{split}-seq64-stride16-query16.tf_record{ext}"
             for split in ("train", "eval") for ext in ("", ".json")]
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(names)


def test_module_does_not_import_tensorflow():
    code = ("import sys; import bert_tf.data.squad; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
