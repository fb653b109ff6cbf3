"""Named-entity data: CoNLL-style readers, WordPiece alignment, predictions back to words.

Readers return `NerSentence(words, labels)` lists with BIO (IOB2) labels whatever the
file's scheme: CoNLL-2003's IOB1, MSRA's BMES (`test.ner`) and BIOS (`test.json`) are
converted, so one label list and one metric serve every data set.

Label convention of the features: a word's label sits on its first WordPiece; every other
position ([CLS], [SEP], a word's later pieces, padding) has label id 0 and `label_mask` 0.
The mask, not a special id, says what is ignored: loss and metrics weight tokens by it,
and a -1 would not fit the records' unsigned varints. Prediction reads the model's output
at the masked positions, in order: position k is word k.

Nothing here imports TensorFlow.
"""

import dataclasses
import json
import os
from typing import Optional

from bert_tf import atomic
from bert_tf.errors import DataError, UserError

DOCSTART = "-DOCSTART-"


@dataclasses.dataclass
class NerSentence:
    """One sentence: its words and their labels (None for unlabelled input).

    `source` ("file:line" of the first word) lets later errors point back at the data.
    """
    words: list
    labels: Optional[list]
    source: str = ""


@dataclasses.dataclass
class TaggerFeatures:
    """One sentence as the tagger reads it (see the module docstring for the labels).

    `num_words` counts the words whose first piece fitted in `max_seq_length`; the words
    after them were cut off and get no prediction.
    """
    input_ids: list
    input_mask: list
    segment_ids: list
    label_ids: list
    label_mask: list
    num_words: int


# ---------------------------------------------------------------------- tag schemes
def split_tag(tag):
    """"B-PER" -> ("B", "PER"); "O" -> ("O", "")."""
    if tag == "O":
        return "O", ""
    prefix, _, kind = tag.partition("-")
    return prefix, kind


def _is_valid_tag(tag):
    prefix, kind = split_tag(tag)
    return prefix == "O" or (prefix in ("B", "I", "M", "E", "S") and kind != "")


def iob1_to_bio(labels):
    """IOB1 -> BIO (IOB2): an I-X that begins a chunk (after O, at the start, or after
    another type) becomes B-X. IOB1 uses B-X only between two adjacent chunks of one type,
    which BIO writes the same way, so B-X stays."""
    out = []
    previous = "O"
    for tag in labels:
        prefix, kind = split_tag(tag)
        if prefix == "I":
            prev_prefix, prev_kind = split_tag(previous)
            if prev_prefix == "O" or prev_kind != kind:
                tag = "B-" + kind
        out.append(tag)
        previous = tag
    return out


def to_bio(labels):
    """BIOES / BMES / BIOS -> BIO: S-X (single) becomes B-X, M-X and E-X (inside, end)
    become I-X; B, I and O pass. For well-formed input the chunks are unchanged."""
    mapping = {"S": "B", "M": "I", "E": "I"}
    out = []
    for tag in labels:
        prefix, kind = split_tag(tag)
        out.append(f"{mapping.get(prefix, prefix)}-{kind}" if prefix != "O" else "O")
    return out


# ---------------------------------------------------------------------- readers
def _open_text(path, flag):
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file (check {flag})")
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            return f.read()
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.start}); save it as UTF-8") from e
    except OSError as e:
        raise DataError(f"{path}: cannot read it ({e.strerror})") from e


def read_column_file(path, word_column=0, label_column=-1, flag="--data_dir"):
    """A CoNLL-style file -> [NerSentence], labels as written.

    One token a line, whitespace-separated columns (the word first and the label last by
    default), a blank line after each sentence; `-DOCSTART-` lines (CoNLL's document
    marks) end a sentence and are dropped. Every line must have as many columns as the
    first, and every label must look like O or B-/I-/M-/E-/S-TYPE, or the error names the
    line.
    """
    text = _open_text(path, flag)
    sentences, words, labels = [], [], []
    width, start = None, 0
    name = os.path.basename(path)

    def flush():
        if words:
            sentences.append(NerSentence(list(words), list(labels), f"{name}:{start}"))
            words.clear()
            labels.clear()

    for number, line in enumerate(text.split("\n"), start=1):
        fields = line.split()
        if not fields:
            flush()
            continue
        if fields[0] == DOCSTART:
            flush()
            continue
        if width is None:
            width = len(fields)
            if width < 2:
                raise DataError(f"{path}, line {number}: one column; expected a word and "
                                "its label separated by whitespace")
        if len(fields) != width:
            raise DataError(f"{path}, line {number}: {len(fields)} columns, expected "
                            f"{width} as on the first line")
        label = fields[label_column]
        if not _is_valid_tag(label):
            raise DataError(f"{path}, line {number}: label {label!r} is not O or "
                            "B-/I-/M-/E-/S-TYPE")
        if not words:
            start = number
        words.append(fields[word_column])
        labels.append(label)
    flush()
    return sentences


def read_json_lines(path, flag="--data_dir"):
    """One JSON object a line, {"text": [chars], "label": [tags]} -> [NerSentence]."""
    text = _open_text(path, flag)
    sentences = []
    name = os.path.basename(path)
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            words, labels = list(record["text"]), list(record["label"])
        except (ValueError, KeyError, TypeError) as e:
            raise DataError(f"{path}, line {number}: expected a JSON object with \"text\" "
                            f"and \"label\" lists ({e})") from None
        if len(words) != len(labels):
            raise DataError(f"{path}, line {number}: {len(words)} characters but "
                            f"{len(labels)} labels")
        bad = [label for label in labels if not _is_valid_tag(label)]
        if bad:
            raise DataError(f"{path}, line {number}: label {bad[0]!r} is not O or "
                            "B-/I-/M-/E-/S-TYPE")
        if words:
            sentences.append(NerSentence(words, labels, f"{name}:{number}"))
    return sentences


def _converted(sentences, convert):
    for sentence in sentences:
        sentence.labels = convert(sentence.labels)
    return sentences


def read_conll2003(path, flag="--data_dir"):
    """CoNLL-2003 (`eng.train`, `eng.testa`, `eng.testb`: word POS chunk NER), labels
    converted from the original IOB1 to BIO."""
    return _converted(read_column_file(path, flag=flag), iob1_to_bio)


def read_msra(path, flag="--data_dir"):
    """MSRA NER: `*.json` (JSON lines, BIOS tags) or a two-column file (character and BMES
    tag, e.g. `test.ner`); labels converted to BIO. Both local test files give the same
    sentences and labels."""
    if path.endswith(".json"):
        sentences = read_json_lines(path, flag)
    else:
        sentences = read_column_file(path, flag=flag)
    return _converted(sentences, to_bio)


def read_peoples_daily(path, flag="--data_dir"):
    """People's Daily NER (`example.train/dev/test`): one character and its BIO tag a line."""
    return _converted(read_column_file(path, flag=flag), to_bio)


@dataclasses.dataclass(frozen=True)
class NerTask:
    """A data set's split files in `--data_dir` and its reader."""
    files: dict
    reader: object


NER_TASKS = {
    "conll2003": NerTask({"train": "eng.train", "dev": "eng.testa", "test": "eng.testb"},
                         read_conll2003),
    "msra": NerTask({"train": "train.ner", "dev": "dev.ner", "test": "test.ner"}, read_msra),
    "peoples_daily": NerTask({"train": "example.train", "dev": "example.dev",
                              "test": "example.test"}, read_peoples_daily),
}


def read_ner_split(task_name, data_dir, split):
    """`split` ("train", "dev" or "test") of a task in NER_TASKS, read from `data_dir`."""
    task = NER_TASKS.get(str(task_name).lower())
    if task is None:
        raise UserError(f"--task_name={task_name}: unknown NER task; known tasks: "
                        f"{', '.join(sorted(NER_TASKS))}")
    path = os.path.join(data_dir, task.files[split])
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file; the {task_name} {split} split is read from "
                        f"--data_dir={data_dir}, which should hold "
                        f"{', '.join(task.files.values())}")
    return task.reader(path)


# ---------------------------------------------------------------------- label lists
def labels_from_sentences(*sentence_lists):
    """The label list seen in the data: "O" first, then the rest sorted, so the same data
    always gives the same ids whatever order its files are read in."""
    seen = {label for sentences in sentence_lists for s in sentences for label in s.labels}
    return (["O"] if "O" in seen else []) + sorted(seen - {"O"})


def read_label_file(path):
    """A label list file: one label a line (blank lines ignored), ids in file order."""
    labels = [line.strip() for line in _open_text(path, "--label_file").split("\n")
              if line.strip()]
    if not labels:
        raise DataError(f"{path}: the label file is empty")
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise DataError(f"{path}: labels listed twice: {', '.join(duplicates)}")
    return labels


def write_label_file(path, labels):
    """The label list, one a line (what `read_label_file` reads back), written atomically."""
    atomic.write_text(path, "".join(f"{label}\n" for label in labels))


# ---------------------------------------------------------------------- features
def convert_sentence_to_features(sentence, label_map, max_seq_length, tokenizer):
    """A `NerSentence` -> `TaggerFeatures` (label convention in the module docstring).

    Each word is tokenized on its own, so a word's pieces never merge with a neighbour's.
    A word that tokenizes to nothing (a lone control or zero-width character) becomes
    [UNK], so every word keeps a position. `[CLS] pieces [SEP]` is cut to
    `max_seq_length`: words whose first piece falls beyond it are dropped (`num_words`
    says how many remain). `label_map` is {label: id} or the label list.
    """
    if max_seq_length < 3:
        raise UserError(f"--max_seq_length={max_seq_length} is too small: [CLS], [SEP] and "
                        "at least one token need 3")
    if not isinstance(label_map, dict):
        label_map = {label: i for i, label in enumerate(label_map)}
    budget = max_seq_length - 2
    tokens, label_ids, label_mask = ["[CLS]"], [0], [0]
    num_words = 0
    for index, word in enumerate(sentence.words):
        if len(tokens) - 1 >= budget:
            break
        pieces = tokenizer.tokenize(word) or ["[UNK]"]
        pieces = pieces[:budget - (len(tokens) - 1)]
        label = 0
        if sentence.labels is not None:
            tag = sentence.labels[index]
            if tag not in label_map:
                where = f" ({sentence.source})" if sentence.source else ""
                raise DataError(f"sentence{where}: label {tag!r} is not in the label list "
                                f"{list(label_map)}")
            label = label_map[tag]
        tokens += pieces
        label_ids += [label] + [0] * (len(pieces) - 1)
        label_mask += [1] + [0] * (len(pieces) - 1)
        num_words += 1
    tokens.append("[SEP]")
    label_ids.append(0)
    label_mask.append(0)
    input_ids = tokenizer.convert_tokens_to_ids(tokens)
    pad = [0] * (max_seq_length - len(input_ids))
    return TaggerFeatures(
        input_ids=input_ids + pad,
        input_mask=[1] * len(input_ids) + pad,
        segment_ids=[0] * max_seq_length,
        label_ids=label_ids + pad,
        label_mask=label_mask + pad,
        num_words=num_words)


def predictions_to_words(predicted_ids, label_mask, label_list, num_words, fill="O"):
    """Per-position predicted ids -> one label per word of the sentence.

    Reads the prediction at each position where `label_mask` is 1 (a word's first piece),
    in order; words cut off by truncation (beyond the masked positions) get `fill`, so
    the result always has `num_words` labels and evaluation still sees every gold entity.
    """
    labels = [label_list[int(p)] for p, m in zip(predicted_ids, label_mask) if m]
    if len(labels) > num_words:
        raise ValueError(f"{len(labels)} predicted positions for a sentence of "
                         f"{num_words} words")
    return labels + [fill] * (num_words - len(labels))


def write_predictions(path, sentences, predictions):
    """Write "word gold predicted" a line, a blank line after each sentence (conlleval's
    input; "word predicted" for unlabelled sentences), atomically."""
    if len(sentences) != len(predictions):
        raise ValueError(f"{len(sentences)} sentences but {len(predictions)} predictions")
    lines = []
    for sentence, predicted in zip(sentences, predictions):
        if len(predicted) != len(sentence.words):
            raise ValueError(f"sentence {sentence.source or ''} has {len(sentence.words)} "
                             f"words but {len(predicted)} predicted labels")
        gold = sentence.labels
        for i, (word, tag) in enumerate(zip(sentence.words, predicted)):
            lines.append(f"{word} {gold[i]} {tag}" if gold is not None else f"{word} {tag}")
        lines.append("")
    atomic.write_text(path, "".join(line + "\n" for line in lines))


def write_features(features, output_file):
    """`TaggerFeatures` -> tagger TFRecords (atomically); the count."""
    from bert_tf import records
    return records.write_all(output_file, map(records.tagger_example, features))
