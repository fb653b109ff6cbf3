"""Checkpoints in Google's TF1 layout and HuggingFace's, mapped one to one onto our model.

Everything is keyed by Google's TF1 variable names (`bert/encoder/layer_0/...`): a model
lists its variables under those names (`model.tf1_weights()`), a TF1 checkpoint stores them
as they are, and HuggingFace names are translated to and from them by rule
(`tf1_to_hf_name` / `hf_to_tf1_name`), with dense kernels transposed.

NEZHA (relative positions) uses the same names without `bert/embeddings/position_embeddings`;
its HuggingFace layout (`model_type: nezha`) puts heads' encoders under `nezha.` instead of
`bert.`, and older HuggingFace versions also stored each layer's fixed relative table.
"""

import dataclasses
import json
import os
import re
import shutil

import numpy as np
import tensorflow as tf

from bert_tf import atomic
from bert_tf.config import BertConfig, ConfigError
from bert_tf.errors import UserError


class CheckpointError(UserError):
    """A checkpoint that cannot be used as asked; the message names the file and variable."""


# ---------------------------------------------------------------------- TF1 files
def tf1_checkpoint_exists(prefix):
    return os.path.exists(f"{prefix}.index")


def read_tf1(prefix):
    """All numeric variables of a TF1 (name-based) checkpoint -> {name: ndarray}.

    Entries that are not arrays (a tf.data iterator's state, dtype `variant`) are skipped:
    NumPy cannot hold them, and no model variable is one.
    """
    if not tf1_checkpoint_exists(prefix):
        raise CheckpointError(f"{prefix}: no checkpoint there ({prefix}.index does not exist); "
                              "pass the prefix, e.g. .../bert_model.ckpt")
    try:
        reader = tf.train.load_checkpoint(prefix)
        dtypes = reader.get_variable_to_dtype_map()
        return {name: reader.get_tensor(name) for name in sorted(dtypes)
                if dtypes[name] not in (tf.variant, tf.resource)}
    except (tf.errors.OpError, ValueError) as e:
        raise CheckpointError(f"{prefix}: cannot read the checkpoint: {e}") from e


def list_tf1(prefix):
    """{name: shape} of a TF1 checkpoint; needs only the `.index` file."""
    if not tf1_checkpoint_exists(prefix):
        raise CheckpointError(f"{prefix}: no checkpoint there ({prefix}.index does not exist)")
    return {name: tuple(shape) for name, shape in tf.train.list_variables(prefix)}


def write_tf1(prefix, arrays):
    """Write {name: array} as a TF1 checkpoint (`prefix.index`, `prefix.data-00000-of-00001`).

    Written under a temporary prefix in the same folder and renamed into place, so a failure
    leaves no half-written checkpoint.
    """
    folder = os.path.dirname(os.path.abspath(prefix))
    os.makedirs(folder, exist_ok=True)
    tmp = atomic.temporary_name(prefix)
    names = sorted(arrays)
    tensors = [tf.convert_to_tensor(arrays[n]) for n in names]
    try:
        tf.raw_ops.SaveV2(prefix=tmp, tensor_names=names, shape_and_slices=[""] * len(names),
                          tensors=tensors)
        for suffix in (".data-00000-of-00001", ".index"):  # index last: it marks completion
            os.replace(tmp + suffix, prefix + suffix)
    finally:
        for leftover in (tmp + ".index", tmp + ".data-00000-of-00001"):
            if os.path.exists(leftover):
                os.remove(leftover)
    _write_checkpoint_state(prefix)


def _write_checkpoint_state(prefix):
    """The `checkpoint` file TF1 tools read to find the latest checkpoint in a folder."""
    folder = os.path.dirname(os.path.abspath(prefix))
    name = os.path.basename(prefix)
    text = f'model_checkpoint_path: "{name}"\nall_model_checkpoint_paths: "{name}"\n'
    atomic.write_text(os.path.join(folder, "checkpoint"), text)


# ---------------------------------------------------------------------- loading into a model
@dataclasses.dataclass
class LoadReport:
    """What a checkpoint load did: loaded, missing from the checkpoint, unused by the model."""

    source: str
    loaded: list
    missing: list  # the model has them, the checkpoint does not (e.g. a new task head)
    unused: list  # the checkpoint has them, the model ignores them (adam_m, global_step, ...)

    def summary(self):
        lines = [f"init from {self.source}: {len(self.loaded)} variables loaded"]
        if self.missing:
            lines.append(f"  {len(self.missing)} not in the checkpoint (kept at their "
                         f"initial values): {', '.join(self.missing)}")
        if self.unused:
            shown = ", ".join(self.unused[:12]) + (" ..." if len(self.unused) > 12 else "")
            lines.append(f"  {len(self.unused)} in the checkpoint but not in the model: {shown}")
        return "\n".join(lines)

    def require_complete(self, what, advice):
        """Raise CheckpointError unless every variable of the model was in the checkpoint:
        for uses (export, features) where a variable left at its initial value is a bug."""
        if self.missing:
            shown = ", ".join(self.missing[:4]) + (" ..." if len(self.missing) > 4 else "")
            raise CheckpointError(f"{self.source}: lacks {len(self.missing)} variables of "
                                  f"{what} ({shown}); {advice}")


def shape_advice(name, got, want):
    """What to change when variable `name` has shape `got` in a checkpoint and `want` in the
    model: the label count for a classifier/tagger head, the config for the rest."""
    if name in ("output_weights", "output_bias") and got and want and got[1:] == want[1:]:
        return (f"the checkpoint's output layer has {got[0]} labels and the model's {want[0]}: "
                f"pass --num_labels={got[0]} (export_savedmodel.py), or use the task and "
                "labels the checkpoint was trained with")
    if name == "cls/predictions/output_bias":
        return (f"the checkpoint's vocabulary has {got[0]} tokens: check that "
                "--bert_config_file (vocab_size) matches the checkpoint")
    return "check that --bert_config_file matches the checkpoint"


POSITION_TABLE = "bert/embeddings/position_embeddings"


def check_position_kind(config, names, source):
    """Refuse a BERT checkpoint for a NEZHA config and the reverse, by the one variable that
    tells them apart: BERT stores its absolute position table, NEZHA (relative positions)
    has none. Without this, one would load with a random position table and the other would
    silently drop the trained one. Checkpoints without an encoder pass."""
    if "bert/embeddings/word_embeddings" not in names:
        return
    has_table = POSITION_TABLE in names
    if config.use_relative_position and has_table:
        raise CheckpointError(
            f"{source}: has {POSITION_TABLE}, a BERT (absolute position) checkpoint, but "
            f"{config.source} is a NEZHA config (use_relative_position: true), which has no such "
            "variable; give the config the checkpoint was trained with")
    if not config.use_relative_position and not has_table:
        raise CheckpointError(
            f"{source}: lacks {POSITION_TABLE}, a NEZHA (relative position) checkpoint, but "
            f"{config.source} is a BERT config, which needs it; give the NEZHA config "
            "(\"use_relative_position\": true) the checkpoint was trained with")


def assign_tf1(model, arrays, source="<arrays>"):
    """Assign {tf1 name: array} to the model's variables by name; shapes must agree."""
    targets = model.tf1_weights()
    check_position_kind(model.config, arrays, source)
    for name, variable in targets.items():
        if name in arrays:
            want, got = tuple(variable.shape), tuple(np.shape(arrays[name]))
            if want != got:
                raise CheckpointError(
                    f"{source}: variable {name} has shape {got} in the checkpoint but {want} "
                    f"in the model; {shape_advice(name, got, want)}")
    for name, variable in targets.items():
        if name in arrays:
            variable.assign(np.asarray(arrays[name], dtype=variable.dtype))
    loaded = sorted(n for n in targets if n in arrays)
    return LoadReport(source=source, loaded=loaded,
                      missing=sorted(n for n in targets if n not in arrays),
                      unused=sorted(n for n in arrays if n not in targets))


def load_tf1(model, prefix):
    """Initialize `model` from a checkpoint: Google's TF1 layout, or one of our training
    checkpoints (a step's prefix or a model folder); the same as `init_from_checkpoint`."""
    return init_from_checkpoint(model, prefix)


_OBJECT_GRAPH = "_CHECKPOINTABLE_OBJECT_GRAPH"
_OUR_VARIABLE = re.compile(r"^variables/([^/]+)/\.ATTRIBUTES/VARIABLE_VALUE$")


def resolve_checkpoint(path):
    """A checkpoint prefix from `path`: the prefix itself, or a folder's latest checkpoint."""
    path = str(path)
    if os.path.isdir(path):
        latest = tf.train.latest_checkpoint(path)
        if latest is None:
            raise CheckpointError(f"{path}: a folder with no checkpoint in it; pass a checkpoint "
                                  "prefix (e.g. .../bert_model.ckpt or .../model.ckpt-1000)")
        return latest
    if not tf1_checkpoint_exists(path):
        raise CheckpointError(f"{path}: no checkpoint there ({path}.index does not exist); pass "
                              "the prefix (e.g. .../bert_model.ckpt or .../model.ckpt-1000) or "
                              "a model folder")
    return path


def is_training_checkpoint(prefix):
    """True for our object-based checkpoints (run_pretraining.py, the fine-tuning scripts),
    False for Google's name-based TF1 layout."""
    try:
        return _OBJECT_GRAPH in dict(tf.train.list_variables(prefix))
    except (tf.errors.OpError, ValueError) as e:
        raise CheckpointError(f"{prefix}: cannot read the checkpoint: {e}") from e


def our_variable_keys(path):
    """{Google TF1 name: checkpoint key} of the model variables in one of our (object-based)
    checkpoints. The runner saves `tf.train.Checkpoint(variables={tf1 name: variable}, ...)`,
    so each model variable is stored under `variables/<escaped tf1 name>/.ATTRIBUTES/VARIABLE_VALUE`
    (TensorFlow escapes "." as ".." and "/" as ".S"); optimizer slots and the rest are not."""
    keys = {}
    for key, _ in tf.train.list_variables(path):
        match = _OUR_VARIABLE.match(key)
        if match:
            keys[re.sub(r"\.(.)", lambda m: "/" if m.group(1) == "S" else m.group(1), match.group(1))] = key
    return keys


def read_ours(path):
    """Model variables of one of our (object-based) checkpoints -> {Google TF1 name: ndarray}.
    Only those are read: the optimizer slots, dropout generators, step counters and the input
    iterator's state (a `variant` NumPy cannot hold) are skipped."""
    try:
        reader = tf.train.load_checkpoint(path)
        return {name: reader.get_tensor(key) for name, key in our_variable_keys(path).items()}
    except (tf.errors.OpError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot read the checkpoint: {e}") from e


def require_same_variables(model, path):
    """Refuse one of our checkpoints whose model variables are not exactly `model`'s (another
    task's head, a BERT checkpoint for a NEZHA config or the reverse): restoring would leave
    some at their initial values, or drop trained ones, silently."""
    have, want = set(our_variable_keys(path)), set(model.tf1_weights())
    missing, surplus = sorted(want - have), sorted(have - want)
    if missing or surplus:
        parts = ([f"lacks {', '.join(missing[:3])}" + (" ..." if len(missing) > 3 else "")] if missing else []) + (
            [f"has {', '.join(surplus[:3])}" + (" ..." if len(surplus) > 3 else "") + " that the model has not"]
            if surplus else [])
        raise CheckpointError(f"{path}: not a checkpoint of this model: it {' and '.join(parts)}; check "
                              "--bert_config_file (a NEZHA config has no position_embeddings) and the task")


def read_checkpoint(path):
    """Any checkpoint the toolkit accepts -> (prefix, {Google TF1 name: ndarray}).

    `path` is Google's TF1 layout (every numeric variable, optimizer slots included), one of
    our training checkpoints (its model variables only) or a folder (its latest checkpoint).
    """
    prefix = resolve_checkpoint(path)
    if is_training_checkpoint(prefix):
        return prefix, read_ours(prefix)
    return prefix, read_tf1(prefix)


def init_from_checkpoint(model, path):
    """Initialize `model` from `--init_checkpoint`: Google's TF1 layout or one of ours.

    One function for the runner, extract_features, export and `load_tf1`, so every tool
    accepts the same checkpoints; a folder means its latest checkpoint. Returns the
    LoadReport.
    """
    prefix = resolve_checkpoint(path)
    training = is_training_checkpoint(prefix)
    # BERT vs NEZHA from the names alone, before anything is read (an index-only file will do)
    check_position_kind(model.config, our_variable_keys(prefix) if training else list_tf1(prefix), prefix)
    arrays = read_ours(prefix) if training else read_tf1(prefix)
    report = assign_tf1(model, arrays, source=prefix)
    if not report.loaded:
        raise CheckpointError(f"{prefix}: none of its variables match the model's Google names "
                              f"(it has e.g. {', '.join(report.unused[:3]) or 'nothing'})")
    return report


def model_tf1_arrays(model):
    """{Google TF1 name: ndarray} of the model's current values."""
    return {name: v.numpy() for name, v in model.tf1_weights().items()}


def save_tf1(model, prefix, config: BertConfig = None, vocab_file=None):
    """Write the model as a Google-layout checkpoint, optionally with its config and vocab."""
    write_tf1(prefix, model_tf1_arrays(model))
    write_companions(os.path.dirname(os.path.abspath(prefix)), config, vocab_file)


def write_companions(folder, config=None, vocab_file=None, config_name="bert_config.json",
                     config_dict=None):
    """Put the config and vocab beside a checkpoint, as Google's releases do."""
    if config is not None:
        data = config_dict if config_dict is not None else config.to_dict()
        atomic.write_text(os.path.join(folder, config_name),
                           json.dumps(data, indent=2, sort_keys=True) + "\n")
    if vocab_file is not None:
        target = os.path.join(folder, "vocab.txt")
        if os.path.abspath(vocab_file) != os.path.abspath(target):
            with atomic.replacing(target) as tmp:
                shutil.copyfile(vocab_file, tmp)


# ---------------------------------------------------------------------- HuggingFace names
_LAYER_NORM = {"gamma": "weight", "beta": "bias"}
_TABLES = ("word_embeddings", "position_embeddings", "token_type_embeddings")
_HEAD_SCOPES = {"cls/squad": "qa_outputs", "": "classifier"}


def tf1_to_hf_name(name):
    """Google TF1 name -> (HuggingFace name, transpose?)."""
    parts = name.split("/")
    if parts[-1] in ("output_weights", "output_bias"):
        scope = "/".join(parts[:-1])
        hf_scope = _HEAD_SCOPES.get(scope, scope.replace("/", "."))
        leaf = "weight" if parts[-1] == "output_weights" else "bias"
        if scope == "cls/predictions":  # the MLM output bias
            return "cls.predictions.bias", False
        return f"{hf_scope}.{leaf}", False
    transpose = parts[-1] == "kernel"
    if parts[-1] == "kernel":
        parts[-1] = "weight"
    elif parts[-2:-1] == ["LayerNorm"]:
        parts[-1] = _LAYER_NORM[parts[-1]]
    elif parts[-1] in _TABLES:
        parts.append("weight")
    hf = ".".join(parts)
    hf = re.sub(r"\.layer_(\d+)\.", r".layer.\1.", hf)
    return hf.removeprefix("bert."), transpose


def hf_to_tf1_name(name):
    """HuggingFace name (with or without the `bert.` / `nezha.` prefix) -> (TF1 name, transpose?)."""
    if name.startswith("nezha."):
        name = "bert." + name.removeprefix("nezha.")
    if name.startswith(("embeddings.", "encoder.", "pooler.")):
        name = "bert." + name
    if name == "cls.predictions.bias":
        return "cls/predictions/output_bias", False
    for scope, hf_scope in _HEAD_SCOPES.items():
        if name.startswith(hf_scope + "."):
            leaf = "output_weights" if name.endswith(".weight") else "output_bias"
            return (f"{scope}/{leaf}" if scope else leaf), False
    if name.startswith("cls.seq_relationship."):
        leaf = "output_weights" if name.endswith(".weight") else "output_bias"
        return f"cls/seq_relationship/{leaf}", False
    parts = re.sub(r"\.layer\.(\d+)\.", r".layer_\1.", name).split(".")
    if parts[-2] in _TABLES:
        return "/".join(parts[:-1]), False
    if parts[-2] == "LayerNorm":
        parts[-1] = {"weight": "gamma", "bias": "beta", "gamma": "gamma", "beta": "beta"}[parts[-1]]
        return "/".join(parts), False
    if parts[-1] == "weight":
        parts[-1] = "kernel"
        return "/".join(parts), True
    return "/".join(parts), False


# HuggingFace buffers, not weights: position ids, token type ids, NEZHA's relative table.
_HF_BUFFERS = ("position_ids", "token_type_ids", "relative_positions_encoding.positions_encoding")


def _check_stored_relative_table(config, hf_name, value, source):
    """Older HuggingFace NEZHA files store each layer's [max_pos, max_pos, head] relative
    table; it must be the one our config computes, or the model would not be the same."""
    from bert_tf.modeling import sinusoid_table
    k, length = config.max_relative_position, value.shape[0]
    positions = np.arange(length)
    index = np.clip(positions[None, :] - positions[:, None], -k, k) + k
    expected = sinusoid_table(k, config.head_size)[index]
    if value.shape != expected.shape or np.abs(value - expected).max() > 1e-4:
        raise CheckpointError(f"{source}: {hf_name} is not the relative table of "
                              f"max_relative_position={k} and head size {config.head_size} "
                              "that config.json describes")
# the MLM decoder's weight is the word-embedding table, its bias cls.predictions.bias
_HF_TIED = ("cls.predictions.decoder.weight", "cls.predictions.decoder.bias")


def read_hf(model_dir):
    """A HuggingFace BERT or NEZHA folder -> (BertConfig, {tf1 name: array}, [ignored HF names])."""
    config_path = os.path.join(model_dir, "config.json")
    weights_path = os.path.join(model_dir, "model.safetensors")
    for path in (config_path, weights_path):
        if not os.path.exists(path):
            raise CheckpointError(f"{model_dir}: {os.path.basename(path)} is missing; a "
                                  "HuggingFace BERT folder holds config.json and model.safetensors")
    try:
        with open(config_path, encoding="utf-8") as f:
            hf_config = json.load(f)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{config_path}: not valid JSON ({e.msg}, line {e.lineno})") from e
    if hf_config.get("model_type", "bert") not in ("bert", "nezha"):
        raise ConfigError(f"{config_path}: model_type is {hf_config['model_type']!r}, not 'bert' "
                          "or 'nezha'")
    config = BertConfig.from_hf_dict(hf_config, source=config_path)
    from safetensors import SafetensorError
    from safetensors.numpy import load_file
    try:
        tensors = load_file(weights_path)
    except (SafetensorError, ValueError) as e:
        raise CheckpointError(f"{weights_path}: cannot read it ({e}); the file is damaged or "
                              "incomplete (a cut-off download?): fetch it again") from e
    arrays, ignored = {}, []
    for hf_name, value in tensors.items():
        if hf_name.endswith(_HF_BUFFERS[-1]):
            _check_stored_relative_table(config, hf_name, value, weights_path)
        if hf_name.endswith(_HF_BUFFERS) or hf_name in _HF_TIED:
            ignored.append(hf_name)  # a buffer, and the tied decoder (the embedding table and bias)
            continue
        tf1_name, transpose = hf_to_tf1_name(hf_name)
        arrays[tf1_name] = np.ascontiguousarray(value.T if transpose else value)
    return config, arrays, ignored


def write_hf(output_dir, config: BertConfig, arrays, vocab_file=None):
    """{tf1 name: array} -> `model.safetensors` + `config.json` (+ vocab.txt) in output_dir."""
    from safetensors.numpy import save_file
    os.makedirs(output_dir, exist_ok=True)
    has_heads = any(not n.startswith("bert/") for n in arrays)
    prefix = "nezha." if config.use_relative_position else "bert."  # HF's base_model_prefix
    tensors = {}
    for name, value in arrays.items():
        hf_name, transpose = tf1_to_hf_name(name)
        if has_heads and hf_name.startswith(("embeddings.", "encoder.", "pooler.")):
            hf_name = prefix + hf_name
        tensors[hf_name] = np.ascontiguousarray(np.asarray(value).T if transpose else value)
    target = os.path.join(output_dir, "model.safetensors")
    with atomic.replacing(target) as tmp:
        save_file(tensors, tmp, metadata={"format": "pt"})
    hf_config = config.to_hf_dict()
    if has_heads:
        hf_config.update(_hf_head_config(arrays, config))
    write_companions(output_dir, config, vocab_file, config_name="config.json",
                     config_dict=hf_config)


def _hf_head_config(arrays, config):
    """config.json entries for the heads present: the transformers class that holds them,
    and the label count of a classifier or tagger (whose weights fit either class)."""
    family = "Nezha" if config.use_relative_position else "Bert"
    if "cls/predictions/output_bias" in arrays:
        return {"architectures": [f"{family}ForPreTraining"]}
    if "cls/squad/output_weights" in arrays:
        return {"architectures": [f"{family}ForQuestionAnswering"]}
    if "output_weights" in arrays:
        labels = int(np.shape(arrays["output_weights"])[0])
        return {"architectures": [], "id2label": {str(i): f"LABEL_{i}" for i in range(labels)},
                "label2id": {f"LABEL_{i}": i for i in range(labels)}}
    return {}


# ---------------------------------------------------------------------- conversions
_MODEL_SCOPES = ("bert/", "cls/", "output_weights", "output_bias")
_SLOT = re.compile(r"/(adam_[mv]|lamb_[mv]|Adam(_\d+)?|LAMB[^/]*|Momentum)$")
GOOGLE_ACTIVATIONS = ("gelu", "relu", "tanh", "linear")  # what Google's modeling.py accepts


def model_weights_only(arrays):
    """The model's variables among {name: array}: Google's scopes without optimizer slots
    and counters (`global_step`, `.../adam_m`), as Google's released checkpoints hold them."""
    return {n: v for n, v in arrays.items() if n.startswith(_MODEL_SCOPES) and not _SLOT.search(n)}


def google_activation_note(config):
    """None when Google's modeling.py runs `config` as it is, else one line saying why not.

    HuggingFace's "gelu" is the exact erf form, our "gelu_exact"; Google's code knows only
    its tanh approximation ("gelu") and refuses the name. Switching the name is a small
    numerical change, measured on the pretrained MiniLM-L6 (docs/benchmarks.md).
    """
    if config.hidden_act in GOOGLE_ACTIVATIONS:
        return None
    if config.hidden_act == "gelu_exact":
        return ('hidden_act is "gelu_exact" (the exact erf GELU, HuggingFace\'s "gelu"): '
                "bert_tf runs it as it is, but Google's modeling.py refuses that name; to run "
                'there, set "gelu" (Google\'s tanh form), which changes the outputs slightly '
                f"(MiniLM-L6: {GELU_SWITCH_ERROR})")
    return (f"hidden_act is {config.hidden_act!r}: Google's modeling.py accepts only "
            f"{', '.join(GOOGLE_ACTIVATIONS)}")


# Measured by bench/gelu_switch.py on the pretrained MiniLM-L6 (docs/benchmarks.md).
GELU_SWITCH_ERROR = ("largest |difference| 3.2e-4 in the pooled output, 8.5e-3 in the sequence "
                     "output; mean 4.9e-5 and 3.5e-4, over the 408 MRPC dev pairs")


def _expected_shapes(config):
    """{Google name: shape} of the pretraining model `config` describes."""
    from bert_tf.heads import BertPretrainingModel  # heads import modeling, not us
    model = BertPretrainingModel(config).build_for()
    return {n: tuple(v.shape) for n, v in model.tf1_weights().items()}


def _check_against_config(config, arrays, source, expected=None):
    """Shape-check arrays against a model built from `config` (raises CheckpointError)."""
    check_position_kind(config, arrays, source)
    expected = expected or _expected_shapes(config)
    for name, value in arrays.items():
        if name in expected and expected[name] != tuple(np.shape(value)):
            raise CheckpointError(
                f"{source}: variable {name} has shape {tuple(np.shape(value))} but the config "
                f"({config.source}) implies {expected[name]}")
    missing = sorted(n for n in expected if n.startswith("bert/") and n not in arrays)
    if missing:
        raise CheckpointError(f"{source}: the encoder variables {', '.join(missing[:5])} "
                              f"{'...' if len(missing) > 5 else ''} are missing")


def _as_arrays(weights):
    """A model (its `tf1_weights()`) or {Google name: variable or array} -> {name: ndarray}."""
    if hasattr(weights, "tf1_weights"):
        weights = weights.tf1_weights()
    return {name: np.asarray(v.numpy() if hasattr(v, "numpy") else v)
            for name, v in weights.items()}


def export_google_layout(weights, folder, config: BertConfig, vocab_file=None,
                         name="bert_model.ckpt"):
    """Write weights in Google's release layout: `folder/bert_model.ckpt.{index,data-*}` (the
    model's variables only, under Google's names), `checkpoint`, `bert_config.json` and,
    when given, `vocab.txt`. Returns the checkpoint prefix.

    `weights` is a task model or {Google name: variable or array} (such as the runner's
    named variables); optimizer slots and counters among them are left out. Google's
    `modeling.py` loads the result by name. The folder must not be a training run's own:
    its `checkpoint` file (which names the run's latest step) would be replaced. With several
    workers, call it on the chief only.
    """
    arrays = model_weights_only(_as_arrays(weights))
    table = arrays.get("bert/embeddings/word_embeddings")
    if table is None or table.shape != (config.vocab_size, config.hidden_size):
        got = "absent" if table is None else f"of shape {table.shape}"
        raise CheckpointError(f"{folder}: cannot write Google's layout: the word embeddings are "
                              f"{got}, but the config ({config.source}) implies "
                              f"({config.vocab_size}, {config.hidden_size})")
    folder = str(folder)
    os.makedirs(folder, exist_ok=True)
    latest = tf.train.latest_checkpoint(folder)
    if latest and is_training_checkpoint(latest):
        raise CheckpointError(f"{folder}: holds a training run's checkpoints ({latest}); write "
                              "Google's layout to a folder of its own")
    write_companions(folder, config, vocab_file)
    prefix = os.path.join(folder, name)
    write_tf1(prefix, arrays)  # last: its index marks a complete export
    return prefix


def convert_hf_to_tf1(hf_model_dir, tf1_prefix):
    """HuggingFace folder -> Google layout: checkpoint, bert_config.json, vocab.txt."""
    config, arrays, ignored = read_hf(hf_model_dir)
    _check_against_config(config, arrays, hf_model_dir)
    vocab = os.path.join(hf_model_dir, "vocab.txt")
    _export_to_prefix(arrays, tf1_prefix, config, vocab if os.path.exists(vocab) else None)
    return config, sorted(arrays), ignored


def _export_to_prefix(arrays, tf1_prefix, config, vocab_file):
    folder, name = os.path.split(os.path.abspath(tf1_prefix))
    return export_google_layout(arrays, folder, config, vocab_file, name=name)


def convert_checkpoint(path, tf1_prefix=None, hf_output_dir=None, bert_config_file=None,
                       vocab_file=None):
    """A checkpoint (Google's layout, or one of our training checkpoints or model folders)
    -> Google's layout at `tf1_prefix` and/or a HuggingFace folder (with the pretraining
    heads when the checkpoint has them). Weights only: optimizer slots, counters and the
    input state are dropped.

    The config is `bert_config_file`, else `bert_config.json` beside the checkpoint; the
    vocab likewise. Returns (config, [written variable names], [dropped names]).
    """
    prefix, everything = read_checkpoint(path)
    folder = os.path.dirname(os.path.abspath(prefix))
    config_file = bert_config_file or os.path.join(folder, "bert_config.json")
    if not os.path.exists(config_file):
        raise CheckpointError(f"{prefix}: no bert_config.json beside it; pass --bert_config_file "
                              "(the config the model was trained with)")
    config = BertConfig.from_json_file(config_file)
    arrays = model_weights_only(everything)
    _check_against_config(config, arrays, prefix)
    vocab = vocab_file or os.path.join(folder, "vocab.txt")
    vocab = vocab if os.path.exists(vocab) else None
    if tf1_prefix:
        _export_to_prefix(arrays, tf1_prefix, config, vocab)
    if hf_output_dir:
        write_hf(hf_output_dir, config, arrays, vocab)
    dropped = set(everything) - set(arrays)
    if is_training_checkpoint(prefix):
        dropped |= _training_state(prefix)
    return config, sorted(arrays), sorted(dropped)


def _training_state(prefix):
    """What a training checkpoint holds besides the model: optimizer slots, step, input."""
    return {key.split("/.ATTRIBUTES/")[0] for key, _ in tf.train.list_variables(prefix)
            if key != _OBJECT_GRAPH and not _OUR_VARIABLE.match(key)}


def convert_tf1_to_hf(tf1_prefix, hf_output_dir, bert_config_file=None, vocab_file=None):
    """Google layout or our training checkpoint -> HuggingFace folder (`convert_checkpoint`)."""
    return convert_checkpoint(tf1_prefix, hf_output_dir=hf_output_dir,
                              bert_config_file=bert_config_file, vocab_file=vocab_file)


# ---------------------------------------------------------------------- NVIDIA's PyTorch files
def pytorch_to_tf1(state, source="<state dict>"):
    """A PyTorch BERT state dict (NVIDIA DeepLearningExamples' names, or HuggingFace's) ->
    ({Google TF1 name: array}, [names left out]).

    NVIDIA's names are HuggingFace's except that the dense layers fused with their
    activation are `dense_act` (`intermediate.dense_act`, `pooler.dense_act`,
    `cls.predictions.transform.dense_act`); a `module.` prefix (DistributedDataParallel) is
    dropped; the MLM decoder is the word-embedding table itself (tied, as in Google's model),
    so it is checked and left out.
    """
    arrays, left_out = {}, []
    for name, value in state.items():
        name = name.removeprefix("module.")
        if name.endswith("position_ids"):
            left_out.append(name)
            continue
        if name in _HF_TIED:  # checked below: Google's layout keeps the one table
            left_out.append(name)
            continue
        tf1_name, transpose = hf_to_tf1_name(name.replace(".dense_act.", ".dense."))
        arrays[tf1_name] = np.ascontiguousarray(value.T if transpose else value)
    decoder = state.get("cls.predictions.decoder.weight", state.get("module.cls.predictions.decoder.weight"))
    table = arrays.get("bert/embeddings/word_embeddings")
    if decoder is not None and table is not None and not np.array_equal(decoder, table):
        raise CheckpointError(f"{source}: cls.predictions.decoder.weight differs from the word "
                              "embeddings; Google's layout ties them, so this model cannot be "
                              "written in it")
    return arrays, left_out


def convert_pytorch(pt_file, tf1_prefix=None, hf_output_dir=None, bert_config_file=None,
                    vocab_file=None):
    """An NVIDIA DeepLearningExamples PyTorch BERT file (torch.save: `{'model': state dict,
    ...}` or a bare state dict; read without PyTorch, see `torch_checkpoint`) -> Google's
    layout and/or HuggingFace's. Returns (config, [written names], [names left out])."""
    from bert_tf import torch_checkpoint
    if not bert_config_file:
        raise CheckpointError(f"{pt_file}: a .pt file holds no config; pass --bert_config_file")
    config = BertConfig.from_json_file(bert_config_file)
    arrays, left_out = pytorch_to_tf1(torch_checkpoint.read_state_dict(pt_file), pt_file)
    expected = _expected_shapes(config)
    unknown = sorted(n for n in arrays if n not in expected and n not in _FINE_TUNED_HEADS)
    if unknown:
        raise CheckpointError(f"{pt_file}: tensors with no place in a BERT model: "
                              f"{', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''}")
    _check_against_config(config, arrays, pt_file, expected)
    if tf1_prefix:
        _export_to_prefix(arrays, tf1_prefix, config, vocab_file)
    if hf_output_dir:
        write_hf(hf_output_dir, config, arrays, vocab_file)
    return config, sorted(arrays), left_out


# Heads of fine-tuned models that a pretraining model lacks (SQuAD, classifier/tagger).
_FINE_TUNED_HEADS = ("cls/squad/output_weights", "cls/squad/output_bias", "output_weights",
                     "output_bias")
