"""The SQuAD JSON file: reading it, checking its shape, walking its questions.

Shared by the data path (`squad_derive.py`), the metrics (`metrics/squad.py`) and the SQuAD
task, so the file is read one way everywhere. Errors are `UserError`s naming the file and the
first entry that is not SQuAD-shaped. No TensorFlow here.
"""

import json

from bert_tf.errors import UserError

V2_VERSIONS = ("v2.0", "2.0")


def type_name(value):
    """A JSON-ish name for a Python value's type, for messages."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
             int: "a number", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def articles_of(dataset, source="dataset"):
    """The article list of a SQuAD dataset: the file's JSON object (its 'data') or the list."""
    if isinstance(dataset, dict):
        if not isinstance(dataset.get("data"), list):
            raise UserError(f"{source}: not a SQuAD dataset: no 'data' list at the top level")
        return dataset["data"]
    if isinstance(dataset, list):
        return dataset
    raise UserError(f"{source}: not a SQuAD dataset: the top level is {type_name(dataset)}, "
                    "not an object with a 'data' list")


def _require_list(container, key, where, source):
    """container[key] when it is a list; otherwise a UserError naming the entry."""
    if not isinstance(container, dict):
        raise UserError(f"{source}: {where} is {type_name(container)}, not an object")
    value = container.get(key)
    if not isinstance(value, list):
        raise UserError(f"{source}: {where} has no '{key}' list")
    return value


def check_dataset(dataset, source="dataset"):
    """Raise UserError naming the first entry that is not SQuAD-shaped.

    Each article needs a 'paragraphs' list, each paragraph a 'qas' list, each question a
    string 'id' and an 'answers' list whose entries have a string 'text'.
    """
    for i, article in enumerate(articles_of(dataset, source)):
        where = f"data[{i}]"
        for j, paragraph in enumerate(_require_list(article, "paragraphs", where, source)):
            p_where = f"{where}.paragraphs[{j}]"
            for k, qa in enumerate(_require_list(paragraph, "qas", p_where, source)):
                q_where = f"{p_where}.qas[{k}]"
                if not isinstance(qa, dict):
                    raise UserError(f"{source}: {q_where} is {type_name(qa)}, not an object")
                if not isinstance(qa.get("id"), str):
                    what = "no 'id'" if "id" not in qa else f"an 'id' that is {type_name(qa['id'])}"
                    raise UserError(f"{source}: {q_where} has {what} (a question needs a string id)")
                q_where = f"{q_where} (id {qa['id']})"
                answers = _require_list(qa, "answers", q_where, source)
                for m, answer in enumerate(answers):
                    if not isinstance(answer, dict) or not isinstance(answer.get("text"), str):
                        raise UserError(f"{source}: {q_where} answers[{m}] has no 'text' string")


def iter_questions(dataset):
    """Every question (qa) of a dataset, in file order."""
    for article in articles_of(dataset):
        for paragraph in article["paragraphs"]:
            yield from paragraph["qas"]


def is_v2(dataset):
    """True for SQuAD v2.0 data: version "v2.0", or any question carrying 'is_impossible'."""
    if isinstance(dataset, dict) and dataset.get("version") in V2_VERSIONS:
        return True
    return any("is_impossible" in qa for qa in iter_questions(dataset))


def read_json(path, what):
    """A JSON file's content; UserError naming the file when it cannot be read or parsed."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise UserError(f"{what} {path}: no such file") from None
    except OSError as e:
        raise UserError(f"{what} {path}: cannot read it ({e.strerror})") from None
    except UnicodeDecodeError:
        raise UserError(f"{what} {path}: not JSON (not UTF-8 text)") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{what} {path}: not JSON ({e.msg} at line {e.lineno} "
                        f"column {e.colno})") from None


def has_answers(dataset):
    """Whether a dataset can be scored: some question has answers or is marked impossible."""
    return any(qa.get("answers") or qa.get("is_impossible") for qa in iter_questions(dataset))
