"""Sentence (pair) classification data: task processors, and examples -> model features.

A processor knows one task's files: where each split lives in `--data_dir`, which columns
hold the texts and the label, and the label list. Reading is strict, so a bad file stops
the job before any training with a message that names the file and line: a missing split
file, a row with the wrong number of columns, a label outside the task's label list.

The conversion to features is Google's `run_classifier.convert_single_example`, to the id:
`[CLS] A [SEP] B [SEP]`, the longer segment trimmed one token at a time, segment ids 0 then
1, zero padding, and the label's index in the label list (a float for regression).

Adding a task: subclass `TsvProcessor` (set `labels`, the file names and a `TsvLayout` for
labelled and test files) or `DataProcessor` (override the `get_*` methods), then
`register_processor("name", MyProcessor)`; `get_processor("name")` finds it from then on.
Nothing here imports TensorFlow.
"""

import dataclasses
import os
from typing import Optional, Union

from bert_tf.errors import DataError, UserError

Column = Union[int, str]


@dataclasses.dataclass
class InputExample:
    """One text or text pair with its label (None where the split has no labels)."""
    guid: str
    text_a: str
    text_b: Optional[str] = None
    label: Optional[Union[str, float]] = None


@dataclasses.dataclass
class ClassifierFeatures:
    """One example as the model reads it (Google's `InputFeatures`).

    `is_real_example` is False only for the padding that `pad_to_batch` adds, so metrics
    and written predictions can leave those rows out.
    """
    input_ids: list
    input_mask: list
    segment_ids: list
    label_id: Union[int, float]
    is_real_example: bool = True


@dataclasses.dataclass(frozen=True)
class TsvLayout:
    """Where a tab-separated file keeps its fields.

    Columns are indices (negative counts from the end, as Google's `line[-1]`) or, for a
    file with a header, header names; naming by header suits data sets whose splits order
    their columns differently (ChnSentiCorp). With a header, every row must have as many
    columns as the header; without one, exactly `columns`.
    """
    text_a: Column
    text_b: Optional[Column] = None
    label: Optional[Column] = None
    header: bool = True
    columns: Optional[int] = None


# ---------------------------------------------------------------------- reading files
def read_tsv(path):
    """A tab-separated file -> [(line number, [fields])], blank lines skipped.

    Google reads with `csv.reader(delimiter="\\t", quotechar=None)`: no quoting, so a field
    is exactly the text between tabs, quotes included; splitting on tabs is the same. A
    UTF-8 byte order mark (MRPC's files have one) is dropped. Line numbers count from 1 so
    that error messages match an editor's.
    """
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.start}); save it as UTF-8") from e
    except OSError as e:
        raise DataError(f"{path}: cannot read it ({e.strerror})") from e
    rows = []
    for number, line in enumerate(text.split("\n"), start=1):
        if line.endswith("\r"):
            line = line[:-1]
        if line:
            rows.append((number, line.split("\t")))
    return rows


def _resolve(column, header, path, what):
    """A layout column -> an index into the row, checked against the header."""
    if isinstance(column, int):
        return column
    if header is None or column not in header:
        found = ", ".join(header) if header else "no header"
        raise DataError(f"{path}: line 1 should be a header with a {column!r} column "
                        f"(the {what}); found: {found}")
    return header.index(column)


# ---------------------------------------------------------------------- processors
class DataProcessor:
    """A task's data: the three splits as `InputExample` lists, and the label list.

    `is_regression` tasks have one float label per example and no label list (STS-B).
    Subclasses implement the four `get_*` methods; `TsvProcessor` does so for the usual
    one-file-per-split layouts.
    """
    name = "task"
    is_regression = False

    def get_train_examples(self, data_dir):
        """Training examples from `data_dir`."""
        raise NotImplementedError

    def get_dev_examples(self, data_dir):
        """Evaluation examples from `data_dir`."""
        raise NotImplementedError

    def get_test_examples(self, data_dir):
        """Prediction examples from `data_dir` (labels are None where the file has none)."""
        raise NotImplementedError

    def get_labels(self):
        """The label strings; a label's index is its id. Empty for regression."""
        raise NotImplementedError


class TsvProcessor(DataProcessor):
    """One tab-separated file per split, laid out as `layout` (`test_layout` for the test
    file, which usually lacks the label and may order columns otherwise)."""
    labels = ()
    train_file = "train.tsv"
    dev_file = "dev.tsv"
    test_file = "test.tsv"
    layout: TsvLayout = None
    test_layout: TsvLayout = None
    label_aliases = {}  # spellings in the data -> the label list's (XNLI's "contradictory")

    def get_train_examples(self, data_dir):
        return self.read_split(data_dir, self.train_file, "train", self.layout)

    def get_dev_examples(self, data_dir):
        return self.read_split(data_dir, self.dev_file, "dev", self.layout)

    def get_test_examples(self, data_dir):
        return self.read_split(data_dir, self.test_file, "test", self.test_layout or self.layout)

    def get_labels(self):
        return list(self.labels)

    def read_split(self, data_dir, filename, set_type, layout):
        """One split's file -> examples with guids `"{set_type}-{line number}"`."""
        path = os.path.join(data_dir, filename)
        if not os.path.isfile(path):
            raise DataError(
                f"{path}: no such file; the {self.name} {set_type} split is read from "
                f"--data_dir={data_dir}, which should hold {self.expected_files()}")
        rows = read_tsv(path)
        header = None
        if layout.header and rows:
            header = [field.strip() for field in rows[0][1]]
            rows = rows[1:]
        if not rows:
            raise DataError(f"{path}: the file holds no examples ({self.name} {set_type} split)")
        width = len(header) if header is not None else layout.columns
        text_a = _resolve(layout.text_a, header, path, "first text")
        text_b = None if layout.text_b is None else _resolve(layout.text_b, header, path,
                                                             "second text")
        label = None if layout.label is None else _resolve(layout.label, header, path, "label")
        examples = []
        for number, fields in rows:
            if width is not None and len(fields) != width:
                raise DataError(f"{path}, line {number}: {len(fields)} tab-separated columns, "
                                f"expected {width} ({self.name} {set_type} layout)")
            examples.append(InputExample(
                guid=f"{set_type}-{number}",
                text_a=fields[text_a],
                text_b=None if text_b is None else fields[text_b],
                label=None if label is None else self._label(fields[label], path, number)))
        return examples

    def _label(self, raw, path, number):
        """A label field -> the label (checked against the label list), or a float."""
        if self.is_regression:
            try:
                return float(raw)
            except ValueError:
                raise DataError(f"{path}, line {number}: label {raw!r} is not a number "
                                f"({self.name} is a regression task)") from None
        value = raw.strip()
        value = self.label_aliases.get(value, value)
        if value not in self.labels:
            raise DataError(f"{path}, line {number}: label {raw!r} is not one of "
                            f"{self.name}'s labels {list(self.labels)}")
        return value

    def expected_files(self):
        return ", ".join([self.train_file, self.dev_file, self.test_file])


class MrpcProcessor(TsvProcessor):
    """MRPC (GLUE): Quality, #1 ID, #2 ID, #1 String, #2 String."""
    name = "MRPC"
    labels = ("0", "1")
    layout = TsvLayout(text_a=3, text_b=4, label=0)
    test_layout = TsvLayout(text_a=3, text_b=4)


class ColaProcessor(TsvProcessor):
    """CoLA (GLUE): source, label, original mark, sentence; only the test file has a header."""
    name = "CoLA"
    labels = ("0", "1")
    layout = TsvLayout(text_a=3, label=1, header=False, columns=4)
    test_layout = TsvLayout(text_a=1)


class Sst2Processor(TsvProcessor):
    """SST-2 (GLUE): sentence, label; the test file is index, sentence."""
    name = "SST-2"
    labels = ("0", "1")
    layout = TsvLayout(text_a=0, label=1)
    test_layout = TsvLayout(text_a=1)


class RteProcessor(TsvProcessor):
    """RTE (GLUE): index, sentence1, sentence2, label."""
    name = "RTE"
    labels = ("entailment", "not_entailment")
    layout = TsvLayout(text_a=1, text_b=2, label=3)
    test_layout = TsvLayout(text_a=1, text_b=2)


class WnliProcessor(TsvProcessor):
    """WNLI (GLUE): index, sentence1, sentence2, label."""
    name = "WNLI"
    labels = ("0", "1")
    layout = TsvLayout(text_a=1, text_b=2, label=3)
    test_layout = TsvLayout(text_a=1, text_b=2)


class StsbProcessor(TsvProcessor):
    """STS-B (GLUE), regression: the similarity score (0 to 5) is the last column."""
    name = "STS-B"
    is_regression = True
    layout = TsvLayout(text_a=7, text_b=8, label=-1)
    test_layout = TsvLayout(text_a=7, text_b=8)


class MnliProcessor(TsvProcessor):
    """MNLI (GLUE), matched dev and test; the gold label is the last column."""
    name = "MNLI"
    labels = ("contradiction", "entailment", "neutral")
    dev_file = "dev_matched.tsv"
    test_file = "test_matched.tsv"
    layout = TsvLayout(text_a=8, text_b=9, label=-1)
    test_layout = TsvLayout(text_a=8, text_b=9)


class MnliMismatchedProcessor(MnliProcessor):
    """MNLI with the mismatched dev and test files (the same training file)."""
    name = "MNLI-mm"
    dev_file = "dev_mismatched.tsv"
    test_file = "test_mismatched.tsv"


class XnliProcessor(TsvProcessor):
    """XNLI Chinese as distributed with ERNIE/PaddleNLP: text_a, text_b, label with a header
    in train.tsv, dev.tsv and test.tsv (test is labelled). Google's own layout (xnli.dev.tsv
    with a language column, multinli.train.zh.tsv) is not read. `contradictory`, XNLI's
    training-set spelling, is read as `contradiction`, as Google does."""
    name = "XNLI"
    labels = ("contradiction", "entailment", "neutral")
    label_aliases = {"contradictory": "contradiction"}
    layout = TsvLayout(text_a=0, text_b=1, label=2)


class LcqmcProcessor(TsvProcessor):
    """LCQMC: question 1, question 2, 0/1 per line, no header; train/dev/test.txt."""
    name = "LCQMC"
    labels = ("0", "1")
    train_file = "train.txt"
    dev_file = "dev.txt"
    test_file = "test.txt"
    layout = TsvLayout(text_a=0, text_b=1, label=2, header=False, columns=3)


class ChnSentiCorpProcessor(TsvProcessor):
    """ChnSentiCorp (Baidu's copy): columns found by header name, since the splits differ
    (train: label, text_a; dev: qid, label, text_a; test: qid, text_a, unlabelled)."""
    name = "ChnSentiCorp"
    labels = ("0", "1")
    layout = TsvLayout(text_a="text_a", label="label")
    test_layout = TsvLayout(text_a="text_a")


PROCESSORS = {
    "cola": ColaProcessor,
    "mnli": MnliProcessor,
    "mnli-mm": MnliMismatchedProcessor,
    "mrpc": MrpcProcessor,
    "rte": RteProcessor,
    "sst-2": Sst2Processor,
    "sts-b": StsbProcessor,
    "wnli": WnliProcessor,
    "xnli": XnliProcessor,
    "lcqmc": LcqmcProcessor,
    "chnsenticorp": ChnSentiCorpProcessor,
}
_ALIASES = {"sst2": "sst-2", "stsb": "sts-b", "mnli_mm": "mnli-mm", "mnlimm": "mnli-mm"}


def _key(task_name):
    key = str(task_name).strip().lower()
    return _ALIASES.get(key, key)


def register_processor(name, processor_class):
    """Make `--task_name=name` read data with `processor_class` (a `DataProcessor` subclass).

    Names are case-insensitive. Registering a taken name for another class is refused, so
    a plug-in cannot silently replace a built-in task.
    """
    if not (isinstance(processor_class, type) and issubclass(processor_class, DataProcessor)):
        raise TypeError(f"{processor_class!r} is not a DataProcessor subclass")
    key = _key(name)
    existing = PROCESSORS.get(key)
    if existing is not None and existing is not processor_class:
        raise ValueError(f"task name {name!r} is already registered for {existing.__name__}")
    PROCESSORS[key] = processor_class


def get_processor(task_name):
    """The processor for `--task_name` (case-insensitive); unknown names list the known."""
    cls = PROCESSORS.get(_key(task_name))
    if cls is None:
        raise UserError(f"--task_name={task_name}: unknown task; known tasks: "
                        f"{', '.join(sorted(PROCESSORS))}")
    return cls()


# ---------------------------------------------------------------------- features
def truncate_seq_pair(tokens_a, tokens_b, max_length):
    """Trim the longer list (the second on a tie) one token at a time, in place, until
    both fit in `max_length`: Google's rule, which keeps a short segment whole."""
    while len(tokens_a) + len(tokens_b) > max_length:
        if len(tokens_a) > len(tokens_b):
            tokens_a.pop()
        else:
            tokens_b.pop()


def convert_example_to_features(example, label_list, max_seq_length, tokenizer,
                                is_regression=False):
    """An `InputExample` -> `ClassifierFeatures`, as Google's `convert_single_example`.

    As in Google's code, an empty `text_b`, or one that tokenizes to nothing, makes a
    single-segment input. An unlabelled example (label None: a test split) gets label id 0
    (0.0 for regression), a placeholder as Google's processors put in.
    """
    if max_seq_length < 3:
        raise UserError(f"--max_seq_length={max_seq_length} is too small: [CLS], [SEP] and "
                        "at least one token need 3")
    tokens_a = tokenizer.tokenize(example.text_a)
    tokens_b = tokenizer.tokenize(example.text_b) if example.text_b else None
    _, input_ids, input_mask, segment_ids = pack_pair(tokens_a, tokens_b, max_seq_length, tokenizer)
    return ClassifierFeatures(
        input_ids=input_ids,
        input_mask=input_mask,
        segment_ids=segment_ids,
        label_id=label_id(example, label_list, is_regression))


def pack_pair(tokens_a, tokens_b, max_seq_length, tokenizer):
    """Google's packing: `[CLS] A [SEP] (B [SEP])`, the pair trimmed longest-first, segment
    ids 0 then 1, zero padding -> (tokens, input_ids, input_mask, segment_ids)."""
    if tokens_b:
        truncate_seq_pair(tokens_a, tokens_b, max_seq_length - 3)
    else:
        tokens_a = tokens_a[:max_seq_length - 2]
    tokens = ["[CLS]", *tokens_a, "[SEP]"]
    segment_ids = [0] * len(tokens)
    if tokens_b:
        tokens += [*tokens_b, "[SEP]"]
        segment_ids += [1] * (len(tokens_b) + 1)
    input_ids = tokenizer.convert_tokens_to_ids(tokens)
    pad = max_seq_length - len(input_ids)
    return tokens, input_ids + [0] * pad, [1] * len(input_ids) + [0] * pad, segment_ids + [0] * pad


def label_id(example, label_list, is_regression=False):
    """The example's label as the model's target: its index in `label_list`, or a float."""
    if example.label is None:
        return 0.0 if is_regression else 0
    if is_regression:
        try:
            return float(example.label)
        except (TypeError, ValueError):
            raise DataError(f"example {example.guid}: label {example.label!r} is not a "
                            "number (regression task)") from None
    try:
        return list(label_list).index(example.label)
    except ValueError:
        raise DataError(f"example {example.guid}: label {example.label!r} is not in the "
                        f"label list {list(label_list)}") from None


def convert_examples_to_features(examples, label_list, max_seq_length, tokenizer,
                                 is_regression=False):
    """A list of examples -> a list of features (see `convert_example_to_features`)."""
    return [convert_example_to_features(e, label_list, max_seq_length, tokenizer, is_regression)
            for e in examples]


def padding_features(max_seq_length, is_regression=False):
    """An all-zero feature marked not real (Google's `PaddingInputExample`)."""
    zeros = [0] * max_seq_length
    return ClassifierFeatures(list(zeros), list(zeros), list(zeros),
                              0.0 if is_regression else 0, is_real_example=False)


def pad_to_batch(features, batch_size, is_regression=False):
    """Append padding features until the count is a multiple of `batch_size`.

    A fixed batch shape keeps prediction on one compiled function (and TPU-style devices
    need it); the padding rows have `is_real_example=False` and are dropped afterwards.
    """
    features = list(features)
    if not features:
        return features
    max_seq_length = len(features[0].input_ids)
    while len(features) % batch_size:
        features.append(padding_features(max_seq_length, is_regression))
    return features


def write_features(examples, label_list, max_seq_length, tokenizer, output_file,
                   is_regression=False):
    """Convert examples and write them as classifier TFRecords (atomically); the count."""
    from bert_tf import records
    return records.write_all(output_file, (
        records.classifier_example(convert_example_to_features(
            example, label_list, max_seq_length, tokenizer, is_regression))
        for example in examples))
