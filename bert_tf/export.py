"""SavedModel export of a trained BERT task model, with serving signatures for ids and raw text.

`export_saved_model(model, export_dir, vocab_file, do_lower_case, max_seq_length)` writes a
SavedModel with two signatures:

- `serving_default`: `input_ids`, `input_mask`, `segment_ids` (int32 [batch, seq], any seq
  up to max_position_embeddings; any seq for NEZHA) -> the task's outputs (see `task_outputs`);
- `serving_text`: `text_a`, `text_b` (string [batch]; `text_b` "" for a single sentence)
  -> the same outputs, plus the `input_ids`, `input_mask`, `segment_ids` it built
  ([batch, max_seq_length]).

The reloaded object also has them as `serve(input_ids, input_mask, segment_ids)` and
`serve_text(text_a, text_b)`.

`serving_text` tokenizes inside the graph as Google's `FullTokenizer` does, token for token
(`bert_tf.graph_tokenizer`: core TensorFlow ops, the vocab and `--do_lower_case`), then packs
as Google's `convert_single_example`: `[CLS] a [SEP] b [SEP]`, the pair trimmed
longest-first (`_truncate_seq_pair`), an empty `b` meaning a single segment, zero padding to
`max_seq_length`.

The graph holds core TensorFlow ops only: TensorFlow's own loaders run both signatures
(`saved_model_cli run`, the C++ SavedModel loader TF Serving uses, `tf.saved_model.load`)
with no `import tensorflow_text` and no custom-op library.

The vocab file is a SavedModel asset (`assets/vocab.txt`), and `assets.extra/` holds
`bert_config.json` and `bert_export.json` (task, max_seq_length, do_lower_case, outputs).
The export is written to a temporary folder beside `export_dir` and renamed into place, so
`export_dir` never holds a half-written export.
"""

import json
import os
import shutil
import tempfile

import tensorflow as tf

from bert_tf import checkpoints, tasks
from bert_tf.errors import UserError
from bert_tf.graph_tokenizer import GraphTokenizer
from bert_tf.tokenization import VocabError, check_special_tokens, load_vocab


class ExportError(UserError):
    """An export that cannot be done as asked; the message names the flag or folder."""


# ---------------------------------------------------------------------- task models
def load_task(name, config, checkpoint, num_labels=None):
    """The task `name` and its model with `checkpoint` loaded; every variable must be there.

    Export is the end of the line: a head missing from the checkpoint would be exported with
    random weights, so a missing variable is an error (usually the wrong `--task`).
    """
    if name not in tasks.TASKS:
        raise ExportError(f"--task={name!r} is not one of {', '.join(tasks.TASKS)}")
    if tasks.TASKS[name].needs_num_labels and (not num_labels or num_labels < 1):
        raise ExportError(f"--task={name} needs --num_labels (the number of labels the "
                          "model was trained with; 1 for regression)")
    task = tasks.for_export(name, config, num_labels)
    model = task.create_model()
    report = checkpoints.init_from_checkpoint(model, checkpoint)
    report.require_complete(f"the --task={name} model",
                            "check --task, --num_labels and --bert_config_file")
    return task, model, report


def export_from_checkpoint(task, bert_config_file, vocab_file, export_dir, init_checkpoint=None,
                           output_dir=None, num_labels=None, do_lower_case=True,
                           max_seq_length=128):
    """export_savedmodel.py: a checkpoint (`--init_checkpoint`, or the latest in `--output_dir`)
    of a `task` model -> SavedModel. Returns the LoadReport of the checkpoint."""
    from bert_tf.config import BertConfig
    if bool(init_checkpoint) == bool(output_dir):
        raise ExportError("give exactly one of --init_checkpoint (a checkpoint) or --output_dir "
                          "(a model folder: its latest checkpoint)")
    if num_labels and task in tasks.TASKS and not tasks.TASKS[task].needs_num_labels:
        raise ExportError(f"--num_labels is for --task=classifier or ner, not --task={task}")
    if output_dir:
        init_checkpoint = tf.train.latest_checkpoint(output_dir)
        if init_checkpoint is None:
            raise ExportError(f"--output_dir={output_dir}: no checkpoint in it")
    config = BertConfig.from_json_file(bert_config_file)
    check_export_inputs(config, export_dir, vocab_file, max_seq_length)
    task, model, report = load_task(task, config, init_checkpoint, num_labels)
    export_saved_model(task, model, export_dir, vocab_file, do_lower_case, max_seq_length)
    return report


def task_outputs(task, model, features):
    """The task's serving outputs (`serving_outputs`) as float32 tensors (ints unchanged)."""
    out = task.serving_outputs(model, features)
    return {k: tf.cast(v, tf.float32) if v.dtype.is_floating else v for k, v in out.items()}


# ---------------------------------------------------------------------- text -> ids in graph
def truncated_lengths(len_a, len_b, max_seq_length):
    """Per-row token counts kept by Google's packing, in closed form (vectorized).

    Google pops from the longer segment (from `b` on a tie) until `a + b` fits in
    `max_seq_length - 3`; that ends with `a` at min(len_a, max(budget - len_b, ceil(budget/2)))
    and `b` at min(len_b, max(budget - len_a, floor(budget/2))). Without `b` the budget is
    `max_seq_length - 2`.
    """
    budget = tf.where(len_b > 0, max_seq_length - 3, max_seq_length - 2)
    budget = tf.cast(budget, len_a.dtype)
    keep_a = tf.minimum(len_a, tf.maximum(budget - len_b, (budget + 1) // 2))
    keep_b = tf.minimum(len_b, tf.maximum(budget - len_a, budget // 2))
    fits = len_a + len_b <= budget
    return tf.where(fits, len_a, keep_a), tf.where(fits, len_b, keep_b)


def _prefix(ragged, lengths):
    """The first `lengths[i]` values of each row of a 2-D ragged tensor."""
    keep = tf.ragged.range(ragged.row_lengths()) < tf.expand_dims(lengths, 1)
    return tf.ragged.boolean_mask(ragged, keep)


def _rows_of(value, lengths):
    """A ragged tensor whose row i is `lengths[i]` copies of `value` (int32)."""
    return tf.RaggedTensor.from_row_lengths(
        tf.fill([tf.reduce_sum(lengths)], tf.constant(value, tf.int32)), lengths)


class TextFeaturizer(tf.Module):
    """Raw strings -> `input_ids`, `input_mask`, `segment_ids` [batch, max_seq_length].

    Tokenizes with `GraphTokenizer` (Google's FullTokenizer in core TensorFlow ops, so the
    SavedModel needs no tensorflow-text and runs in saved_model_cli and TF Serving)."""

    def __init__(self, vocab_file, do_lower_case, max_seq_length, model_vocab_size=None):
        super().__init__(name="text_featurizer")
        tokens, ids = _vocab_tokens(vocab_file, model_vocab_size)
        self.max_seq_length = max_seq_length
        self.cls_id, self.sep_id = ids["[CLS]"], ids["[SEP]"]
        self.tokenizer = GraphTokenizer(tokens, do_lower_case=do_lower_case)

    def __call__(self, text_a, text_b):
        a, b = self.tokenizer.tokenize(text_a), self.tokenizer.tokenize(text_b)
        keep_a, keep_b = truncated_lengths(a.row_lengths(), b.row_lengths(), self.max_seq_length)
        a, b = _prefix(a, keep_a), _prefix(b, keep_b)
        one = tf.ones_like(keep_a)
        has_b = tf.cast(keep_b > 0, keep_b.dtype)
        pieces = [_rows_of(self.cls_id, one), a, _rows_of(self.sep_id, one),
                  b, _rows_of(self.sep_id, has_b)]
        segments = [0, 0, 0, 1, 1]
        ids = tf.concat(pieces, axis=1)
        segment_ids = tf.concat([tf.ones_like(p) * s for p, s in zip(pieces, segments)], axis=1)
        shape = [None, self.max_seq_length]
        return {"input_ids": ids.to_tensor(0, shape=shape),
                "input_mask": tf.ones_like(ids).to_tensor(0, shape=shape),
                "segment_ids": segment_ids.to_tensor(0, shape=shape)}


def _vocab_tokens(vocab_file, model_vocab_size=None):
    """The vocab as a token list for the in-graph lookup table (unique, non-empty tokens).

    Its ids must also fit the model's embedding table, or serving would fail on lookup.
    """
    vocab = load_vocab(vocab_file)
    check_special_tokens(vocab, vocab_file, required=("[UNK]", "[CLS]", "[SEP]"))
    tokens = list(vocab)
    if len(tokens) != max(vocab.values()) + 1:
        raise VocabError(f"{vocab_file}: has repeated or empty lines; the in-graph tokenizer "
                         "needs one distinct token per line")
    # A line that strips to nothing is a token Google's tokenizer never produces (Google's
    # Chinese vocab, and so NEZHA's, has U+2028 at id 343); tensorflow-text needs non-empty
    # tokens, so it stands in as a name no text can produce (brackets and spaces split words).
    tokens = [token or f"[empty line {index}]" for index, token in enumerate(tokens)]
    if model_vocab_size is not None and len(tokens) > model_vocab_size:
        raise VocabError(f"{vocab_file}: {len(tokens)} tokens, more than the model's "
                         f"vocab_size={model_vocab_size}; is it the model's vocab?")
    return tokens, vocab


# ---------------------------------------------------------------------- the exported module
_IDS_SPEC = [tf.TensorSpec([None, None], tf.int32, name=n)
             for n in ("input_ids", "input_mask", "segment_ids")]
_TEXT_SPEC = [tf.TensorSpec([None], tf.string, name=n) for n in ("text_a", "text_b")]


class BertServingModule(tf.Module):
    """What the SavedModel holds: the model's variables, the featurizer, two functions.

    The Keras model is called from the functions, not tracked itself: the `tf.Variable`s
    under its Keras variables (`v.value`) are tracked as a plain list, as Keras' own
    ExportArchive does. Tracking the Keras variables instead saves them where TensorFlow's
    C++-style loader (saved_model_cli, TF Serving) does not restore them ("Could not find
    variable ...").
    """

    def __init__(self, task, model, vocab_file, do_lower_case, max_seq_length):
        super().__init__(name="bert_serving")
        self._outputs = lambda features: task_outputs(task, model, features)  # a closure: untracked
        # the tf.Variables under Keras' variables: what TensorFlow's C++ loaders restore
        self.model_variables = [v.value for v in model.weights]
        self.featurizer = TextFeaturizer(vocab_file, do_lower_case, max_seq_length,
                                         model.config.vocab_size)
        self.vocab_file = tf.saved_model.Asset(vocab_file)
        self.serve = tf.function(self._serve, input_signature=_IDS_SPEC)
        self.serve_text = tf.function(self._serve_text, input_signature=_TEXT_SPEC)

    def _serve(self, input_ids, input_mask, segment_ids):
        features = {"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids}
        return self._outputs(features)

    def _serve_text(self, text_a, text_b):
        features = self.featurizer(text_a, text_b)
        return dict(self._outputs(features), **features)


def export_saved_model(task, model, export_dir, vocab_file, do_lower_case=True, max_seq_length=128):
    """Write `model` (the built model of `task`, with its trained weights) as a SavedModel.

    For the runners' `--export_dir` after training (call it on the chief worker only) and for
    export_savedmodel.py. An existing SavedModel at `export_dir` is replaced; any other
    existing folder content is refused rather than overwritten. Returns `export_dir`.
    """
    if not model.built or not model.weights:
        raise ValueError("export_saved_model needs a built model with its weights loaded")
    check_export_inputs(model.config, export_dir, vocab_file, max_seq_length)
    module = BertServingModule(task, model, vocab_file, do_lower_case, max_seq_length)
    parent = os.path.dirname(os.path.abspath(export_dir))
    try:
        os.makedirs(parent, exist_ok=True)
        staging = tempfile.mkdtemp(
            prefix=f".{os.path.basename(os.path.abspath(export_dir))}.tmp-", dir=parent)
    except OSError as e:
        raise ExportError(f"--export_dir={export_dir}: cannot write there ({e.strerror})") from e
    try:
        signatures = {"serving_default": module.serve.get_concrete_function(),
                      "serving_text": module.serve_text.get_concrete_function()}
        tf.saved_model.save(module, staging, signatures=signatures)
        _write_extra(staging, task, model, do_lower_case, max_seq_length, signatures)
        _replace_dir(staging, export_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return export_dir


def check_export_inputs(config, export_dir, vocab_file, max_seq_length):
    """Everything an export needs from the user, checked before any model work.

    The runners can call this before training so that a bad `--export_dir` is reported at
    the start, not after hours of training.
    """
    config.check_seq_length(max_seq_length, minimum=3)
    _vocab_tokens(vocab_file, config.vocab_size)
    _check_export_dir(export_dir)


def _check_export_dir(export_dir):
    """Refuse to replace anything but an earlier SavedModel (or an empty folder)."""
    if os.path.exists(export_dir):
        if not os.path.isdir(export_dir):
            raise ExportError(f"--export_dir={export_dir} is a file, not a folder")
        is_saved_model = os.path.exists(os.path.join(export_dir, "saved_model.pb"))
        if os.listdir(export_dir) and not is_saved_model:
            raise ExportError(f"--export_dir={export_dir} exists and is not a SavedModel; "
                              "choose a new or empty folder")


def _write_extra(folder, task, model, do_lower_case, max_seq_length, signatures):
    """assets.extra/: the config and the export settings, for clients and for people."""
    extra = os.path.join(folder, "assets.extra")
    os.makedirs(extra, exist_ok=True)
    model.config.to_json_file(os.path.join(extra, "bert_config.json"))
    info = {"task": task.name, "max_seq_length": max_seq_length, "do_lower_case": do_lower_case,
            "num_labels": getattr(model, "num_labels", None),
            "signatures": {
                name: {"inputs": [s.name for s in tf.nest.flatten(fn.structured_input_signature)],
                       "outputs": sorted(fn.structured_outputs)}
                for name, fn in signatures.items()}}
    with open(os.path.join(extra, "bert_export.json"), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=2)
        f.write("\n")


def _replace_dir(staging, export_dir):
    """Move the finished export into place; an earlier export is removed only afterwards."""
    old = None
    if os.path.exists(export_dir):
        old = tempfile.mkdtemp(prefix=f".{os.path.basename(os.path.abspath(export_dir))}.old-",
                               dir=os.path.dirname(os.path.abspath(export_dir)))
        os.rmdir(old)
        os.rename(export_dir, old)
    os.rename(staging, export_dir)
    if old:
        shutil.rmtree(old, ignore_errors=True)
