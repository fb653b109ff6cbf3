"""BertConfig: the fields of Google's `bert_config.json`, validated, with presets.

Google's released configs carry a few fields its `modeling.py` never reads (`directionality`,
`pooler_fc_size`, `pooler_num_attention_heads`, ...). We keep every such field in `extra` and
write it back unchanged, so a config read and written again is the file the user gave us;
nothing outside `extra` is silently ignored.
"""

import copy
import dataclasses
import json
from typing import Any

from bert_tf import atomic
from bert_tf.errors import UserError

# Activation names as Google's modeling.py spells them, plus the erf form and aliases.
ACTIVATIONS = ("gelu", "gelu_exact", "relu", "swish", "silu", "tanh", "linear")

# HuggingFace's activation names -> ours. HF's "gelu" is the exact erf form; its tanh
# approximation (the one Google trained with) is "gelu_new" / "gelu_pytorch_tanh".
_HF_TO_OURS_ACT = {
    "gelu": "gelu_exact",
    "gelu_new": "gelu",
    "gelu_pytorch_tanh": "gelu",
    "gelu_fast": "gelu",
    "relu": "relu",
    "silu": "silu",
    "swish": "swish",
    "tanh": "tanh",
    "linear": "linear",
}
_OURS_TO_HF_ACT = {"gelu_exact": "gelu", "gelu": "gelu_new", "relu": "relu", "silu": "silu",
                   "swish": "swish", "tanh": "tanh", "linear": "linear"}

DEFAULT_LAYER_NORM_EPS = 1e-12
# NEZHA's clipping distance when a config does not name one: the TensorFlow original fixes 64.
DEFAULT_MAX_RELATIVE_POSITION = 64
# Fields outside Google's file: written only when set (or named by the file read), so that a
# file without them round-trips unchanged.
_OPTIONAL_DEFAULTS = {"layer_norm_eps": DEFAULT_LAYER_NORM_EPS, "use_relative_position": False,
                      "max_relative_position": DEFAULT_MAX_RELATIVE_POSITION}


class ConfigError(UserError):
    """A bert_config.json that cannot describe a model; the message names file and field."""


@dataclasses.dataclass
class BertConfig:
    """Google's BERT hyperparameters (field names and defaults as Google's `BertConfig`)."""

    vocab_size: int
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 16
    initializer_range: float = 0.02
    # Not in Google's file (its LayerNorm epsilon is fixed at 1e-12); written only when it
    # differs, for models imported from elsewhere.
    layer_norm_eps: float = DEFAULT_LAYER_NORM_EPS
    # NEZHA (Huawei): functional relative positions instead of the absolute position table;
    # relative distances are clipped to +-max_relative_position. Written only when set.
    use_relative_position: bool = False
    max_relative_position: int = DEFAULT_MAX_RELATIVE_POSITION
    extra: dict = dataclasses.field(default_factory=dict)
    source: str = dataclasses.field(default="<in memory>", compare=False, repr=False)
    # The optional fields the file named, so they are written back even at their defaults.
    named: frozenset = dataclasses.field(default=frozenset(), compare=False, repr=False)

    def __post_init__(self):
        self.validate()

    # ------------------------------------------------------------------ validation
    def validate(self):
        def bad(field, why):
            raise ConfigError(f"{self.source}: field '{field}' {why}")

        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "max_position_embeddings", "type_vocab_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                bad(name, f"must be an integer, got {value!r}")
            if value <= 0:
                bad(name, f"must be positive, got {value}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1:
                bad(name, f"must be a number in [0, 1), got {value!r}")
        for name in ("initializer_range", "layer_norm_eps"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                bad(name, f"must be a positive number, got {value!r}")
        if self.hidden_act not in ACTIVATIONS:
            bad("hidden_act", f"is {self.hidden_act!r}; known activations: {', '.join(ACTIVATIONS)}")
        if self.hidden_size % self.num_attention_heads:
            bad("hidden_size", f"({self.hidden_size}) is not a multiple of num_attention_heads "
                f"({self.num_attention_heads})")
        if not isinstance(self.use_relative_position, bool):
            bad("use_relative_position", f"must be true or false, got {self.use_relative_position!r}")
        value = self.max_relative_position
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            bad("max_relative_position", f"must be an integer of at least 1, got {value!r}")
        if self.use_relative_position and self.head_size % 2:
            bad("hidden_size", f"/ num_attention_heads = {self.head_size} must be even with "
                "use_relative_position (the sinusoid table pairs sin and cos columns)")

    def check_seq_length(self, max_seq_length, flag="--max_seq_length", minimum=1):
        """The one rule for how long an input may be: up to max_position_embeddings for BERT
        (its position table ends there), any length for relative positions (NEZHA), whose
        encoding is a function of the distance. Raises ConfigError naming the flag and file."""
        if max_seq_length < minimum:
            raise ConfigError(f"{flag}={max_seq_length} must be at least {minimum}")
        if not self.use_relative_position and max_seq_length > self.max_position_embeddings:
            raise ConfigError(
                f"{flag}={max_seq_length} must be between {minimum} and max_position_embeddings="
                f"{self.max_position_embeddings} of {self.source} (its position table ends there; "
                "a relative-position (NEZHA) config takes any length)")

    @property
    def head_size(self):
        return self.hidden_size // self.num_attention_heads

    # ------------------------------------------------------------------ Google's JSON
    def to_dict(self):
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if f.name not in ("extra", "source", "named", *_OPTIONAL_DEFAULTS)}
        for name, default in _OPTIONAL_DEFAULTS.items():
            value = getattr(self, name)
            if value != default or name in self.named:
                out[name] = value
        out.update(copy.deepcopy(self.extra))
        return dict(sorted(out.items()))

    @classmethod
    def from_dict(cls, data, source="<dict>"):
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a JSON object, got {type(data).__name__}")
        if "vocab_size" not in data:
            raise ConfigError(f"{source}: field 'vocab_size' is missing")
        known = {f.name for f in dataclasses.fields(cls)} - {"extra", "source", "named"}
        kwargs = {k: v for k, v in data.items() if k in known}
        extra = {k: v for k, v in data.items() if k not in known}
        named = frozenset(k for k in data if k in _OPTIONAL_DEFAULTS)
        return cls(**kwargs, extra=extra, source=source, named=named)

    @classmethod
    def from_json_file(cls, path):
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise ConfigError(f"{path}: cannot read the BERT config file ({e.strerror})") from e
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: "
                              f"{e.msg})") from e
        return cls.from_dict(data, source=str(path))

    def to_json_string(self):
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def to_json_file(self, path):
        """Write atomically: a temporary file renamed into place."""
        atomic.write_text(path, self.to_json_string())

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ HuggingFace
    @classmethod
    def from_hf_dict(cls, data, source="<hf config>"):
        """A HuggingFace `config.json` (model_type bert or nezha) -> BertConfig with our
        activation names; a NEZHA config turns relative positions on."""
        act = data.get("hidden_act", "gelu")
        if act not in _HF_TO_OURS_ACT:
            raise ConfigError(f"{source}: field 'hidden_act' is {act!r}, which has no BERT "
                              f"equivalent; known: {', '.join(_HF_TO_OURS_ACT)}")
        fields = {k: data[k] for k in ("vocab_size", "hidden_size", "num_hidden_layers",
                                       "num_attention_heads", "intermediate_size",
                                       "hidden_dropout_prob", "attention_probs_dropout_prob",
                                       "max_position_embeddings", "type_vocab_size",
                                       "initializer_range", "layer_norm_eps") if k in data}
        if data.get("model_type", "bert") == "nezha":
            # HF's NezhaConfig defaults: every NEZHA is relative, 64 when the file is silent.
            fields.update(use_relative_position=True, max_relative_position=data.get(
                "max_relative_position", DEFAULT_MAX_RELATIVE_POSITION))
        else:
            pos = data.get("position_embedding_type", "absolute")
            if pos != "absolute":
                raise ConfigError(f"{source}: position_embedding_type {pos!r} is not BERT's "
                                  "absolute position embedding")
        config = cls.from_dict({**fields, "hidden_act": _HF_TO_OURS_ACT[act]}, source=source)
        return config.replace(named=frozenset())  # HF writes every field: keep ours minimal

    def to_hf_dict(self):
        """HuggingFace's `config.json`: BertModel's, or NezhaModel's for relative positions."""
        out = {k: v for k, v in self.to_dict().items()
               if k not in self.extra and k != "use_relative_position"}
        out.update(hidden_act=_OURS_TO_HF_ACT[self.hidden_act], layer_norm_eps=self.layer_norm_eps,
                   pad_token_id=0)
        if self.use_relative_position:
            out.update(model_type="nezha", architectures=["NezhaModel"],
                       max_relative_position=self.max_relative_position)
        else:
            out.pop("max_relative_position", None)
            out.update(model_type="bert", architectures=["BertModel"],
                       position_embedding_type="absolute")
        return out


_BASE = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)
_LARGE = dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096)
# NEZHA's released Chinese models: the padded 21,136-row table (the vocab file has 21,128 lines).
_NEZHA = dict(vocab_size=21136, use_relative_position=True, max_position_embeddings=512)
PRESETS = {
    "base": _BASE,
    "large": _LARGE,
    "minilm_l6": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                      intermediate_size=1536),
    "tiny": dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=512, max_position_embeddings=512),
    "micro": dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                  intermediate_size=64, max_position_embeddings=128),
    "nezha_base": dict(_BASE, **_NEZHA),
    "nezha_large": dict(_LARGE, **_NEZHA),
}


def preset(name, vocab_size=None, **overrides):
    """Named sizes: Google's base and large, MiniLM-L6, tiny/micro sizes for tests, and
    NEZHA base/large (relative positions). `vocab_size` defaults to the preset's (30,522
    for BERT sizes, NEZHA's 21,136)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}")
    fields: dict[str, Any] = {"vocab_size": 30522, "type_vocab_size": 2, **PRESETS[name]}
    if vocab_size is not None:
        fields["vocab_size"] = vocab_size
    fields.update(overrides)
    return BertConfig(**fields, source=f"preset:{name}")


def main(argv=None):
    """`python -m bert_tf.config --preset tiny --vocab_file vocab.txt --output bert_config.json`"""
    import argparse
    parser = argparse.ArgumentParser(description="Write a bert_config.json for a preset size.")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--vocab_file", help="size the vocab from this vocab.txt")
    parser.add_argument("--vocab_size", type=int, help="default: the preset's (30522; NEZHA 21136)")
    parser.add_argument("--max_position_embeddings", type=int)
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    vocab_size = args.vocab_size
    if args.vocab_file:
        with open(args.vocab_file, "rb") as f:
            vocab_size = sum(1 for _ in f)
    overrides = {"max_position_embeddings": args.max_position_embeddings} if args.max_position_embeddings else {}
    preset(args.preset, vocab_size=vocab_size, **overrides).to_json_file(args.output)


if __name__ == "__main__":
    main()
