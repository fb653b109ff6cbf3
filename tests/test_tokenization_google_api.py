"""Google's tokenization API under its own names: every case of Google's tokenization_test.py
(bert-tensorflow 1.0.4), written here from its assertions, run against bert_tf.tokenization;
Google's module-level names all exist here; the ones that decide things agree with Google's
functions (subprocess oracle)."""

import ast
import json

import pytest

from bert_tf import tokenization
from conftest import run_oracle

GOOGLE_VOCAB = ["[UNK]", "[CLS]", "[SEP]", "want", "##want", "##ed", "wa", "un", "runn", "##ing"]


def google_module_source():
    try:
        import importlib.util
        spec = importlib.util.find_spec("bert")
    except ImportError:
        spec = None
    if spec is None:
        pytest.fail("bert-tensorflow (requirements-dev.txt) is not installed: Google's "
                    "tokenization.py is the reference")
    from pathlib import Path
    return (Path(spec.origin).parent / "tokenization.py").read_text(encoding="utf-8")


def test_every_module_level_function_and_class_of_googles_module_is_here():
    tree = ast.parse(google_module_source())
    names = [node.name for node in tree.body
             if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    assert {"convert_by_vocab", "printable_text", "validate_case_matches_checkpoint"} <= set(names)
    assert [n for n in names if not hasattr(tokenization, n)] == []


# ---------------------------------------------------------------------- tokenization_test.py's cases
def full_tokenizer(tmp_path, **options):
    vocab = tmp_path / "vocab.txt"
    vocab.write_bytes("".join(t + "\n" for t in GOOGLE_VOCAB + [",", "[unused0]"]).encode("utf-8"))
    tokenizer = tokenization.FullTokenizer(str(vocab), **options)
    tokens = tokenizer.tokenize("UNwant\u00E9d,running [unused0] [CLS] [unused55]")
    return tokens, tokenizer.convert_tokens_to_ids(tokens)


def test_full_tokenizer(tmp_path):
    tokens, ids = full_tokenizer(tmp_path)
    assert tokens == ["un", "##want", "##ed", ",", "runn", "##ing", "[UNK]", "[UNK]", "[UNK]",
                      "[UNK]", "[UNK]", "[UNK]", "[UNK]", "[UNK]", "[UNK]"]
    assert ids == [7, 4, 5, 10, 8, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0]


def test_full_tokenizer_preserve_unused(tmp_path):
    # Google sets the absl flag --preserve_unused_tokens; ours is the constructor argument
    tokens, ids = full_tokenizer(tmp_path, preserve_unused_tokens=True)
    assert tokens == ["un", "##want", "##ed", ",", "runn", "##ing", "[unused0]", "[UNK]",
                      "[UNK]", "[UNK]", "[UNK]", "[UNK]", "[UNK]"]
    assert ids == [7, 4, 5, 10, 8, 9, 11, 0, 0, 0, 0, 0, 0]


def test_chinese():
    assert tokenization.BasicTokenizer().tokenize("ah\u535A\u63A8zz") == ["ah", "\u535A", "\u63A8", "zz"]


def test_basic_tokenizer_lower():
    tokenizer = tokenization.BasicTokenizer(do_lower_case=True)
    assert tokenizer.tokenize(" \tHeLLo!how  \n Are yoU?  ") == ["hello", "!", "how", "are", "you", "?"]
    assert tokenizer.tokenize("H\u00E9llo") == ["hello"]


def test_basic_tokenizer_no_lower():
    tokenizer = tokenization.BasicTokenizer(do_lower_case=False)
    assert tokenizer.tokenize(" \tHeLLo!how  \n Are yoU?  ") == ["HeLLo", "!", "how", "Are", "yoU", "?"]


def test_wordpiece_tokenizer():
    tokenizer = tokenization.WordpieceTokenizer(vocab={t: i for i, t in enumerate(GOOGLE_VOCAB)})
    assert tokenizer.tokenize("") == []
    assert tokenizer.tokenize("unwanted running") == ["un", "##want", "##ed", "runn", "##ing"]
    assert tokenizer.tokenize("unwantedX running") == ["[UNK]", "runn", "##ing"]


def test_convert_tokens_to_ids():
    vocab = {t: i for i, t in enumerate(GOOGLE_VOCAB)}
    assert tokenization.convert_tokens_to_ids(vocab, ["un", "##want", "##ed", "runn", "##ing"]) == [7, 4, 5, 8, 9]


def test_is_whitespace():
    for char in (" ", "\t", "\r", "\n", "\u00A0"):
        assert tokenization._is_whitespace(char)
    for char in ("A", "-"):
        assert not tokenization._is_whitespace(char)


def test_is_control():
    assert tokenization._is_control("\u0005")
    for char in ("A", " ", "\t", "\r", "\U0001F4A9"):
        assert not tokenization._is_control(char)


def test_is_punctuation():
    for char in ("-", "$", "`", "."):
        assert tokenization._is_punctuation(char)
    for char in ("A", " "):
        assert not tokenization._is_punctuation(char)


# ---------------------------------------------------------------------- the added names, against Google's
CHECKPOINTS = [
    [False, "/models/uncased_L-12_H-768_A-12/bert_model.ckpt"],
    [True, "/models/uncased_L-12_H-768_A-12/bert_model.ckpt"],
    [True, "gs://bucket/cased_L-24_H-1024_A-16/bert_model.ckpt"],
    [False, "cased_L-24_H-1024_A-16/bert_model.ckpt"],
    [False, "multilingual_L-12_H-768_A-12/bert_model.ckpt-1000"],
    [True, "multi_cased_L-12_H-768_A-12/bert_model.ckpt.index"],
    [False, "chinese_L-12_H-768_A-12/model.ckpt"],
    [True, "my_cased_model/bert_model.ckpt"],
    [False, ""], [True, None],
]


def test_added_functions_agree_with_googles(tmp_path):
    vocab = GOOGLE_VOCAB + ["[unused0]", "[unused7]"]
    tokens = ["[unused0]", "[unused7]", "[unused9]", "want", "[CLS]", "x[unused0]"]
    request = {"validate_case": CHECKPOINTS, "printable_text": ["plain", "naïve"],
               "preserve": {"vocab": vocab, "tokens": tokens}}
    (tmp_path / "request.json").write_text(json.dumps(request))
    run_oracle("google_tokenization_api.py", tmp_path / "request.json", tmp_path / "google.json")
    google = json.loads((tmp_path / "google.json").read_text(encoding="utf-8"))
    for (lower, checkpoint), message in zip(CHECKPOINTS, google["validate_case"]):
        if message is None:
            tokenization.validate_case_matches_checkpoint(lower, checkpoint)
        else:
            with pytest.raises(ValueError) as e:
                tokenization.validate_case_matches_checkpoint(lower, checkpoint)
            assert str(e.value) == message.split(" If this error is wrong")[0]
    assert sum(m is not None for m in google["validate_case"]) == 4
    assert [tokenization.printable_text(t) for t in request["printable_text"]] == google["printable_text"]
    assert tokenization.printable_text("naïve".encode("utf-8") + b"\xff") == "naïve"
    ids = {t: i for i, t in enumerate(vocab)}
    assert [tokenization.preserve_token(t, ids) for t in tokens] == google["preserve"]["False"]
    assert [tokenization.is_preserved(t, ids) for t in tokens] == google["preserve"]["True"]
    inv = {i: t for t, i in ids.items()}
    assert tokenization.convert_ids_to_tokens(inv, [7, 4, 10]) == ["un", "##want", "[unused0]"]
    assert tokenization.convert_by_vocab(ids, ["wa", "un"]) == [6, 7]
    with pytest.raises(KeyError):
        tokenization.convert_by_vocab(ids, ["absent"])
    with pytest.raises(ValueError, match="Unsupported string type"):
        tokenization.convert_to_unicode(3)
