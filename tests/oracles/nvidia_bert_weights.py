"""Weights of a tiny BERT under NVIDIA DeepLearningExamples' PyTorch names, made by formula.

Pure NumPy, so that the torch.save fixtures (tests/oracles/make_torch_checkpoints.py, run
where PyTorch is) and the tests that read them without PyTorch build the same values.
NVIDIA's names, from its PyTorch/LanguageModeling/BERT/modeling.py: HuggingFace's, except
that the dense layers fused with their activation (`LinearActivation`) are `dense_act`, and
`cls.predictions.decoder.weight` is the word-embedding table itself.
"""

import numpy as np

CONFIG = {"vocab_size": 24, "hidden_size": 8, "num_hidden_layers": 2, "num_attention_heads": 2,
          "intermediate_size": 16, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
          "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 12,
          "type_vocab_size": 2, "initializer_range": 0.02}


def shapes(config=CONFIG, heads="pretraining"):
    """{NVIDIA name: shape} of BertForPreTraining (or BertForQuestionAnswering: "squad"),
    without the tied decoder."""
    v, h, i = config["vocab_size"], config["hidden_size"], config["intermediate_size"]
    out = {"bert.embeddings.word_embeddings.weight": (v, h),
           "bert.embeddings.position_embeddings.weight": (config["max_position_embeddings"], h),
           "bert.embeddings.token_type_embeddings.weight": (config["type_vocab_size"], h),
           "bert.embeddings.LayerNorm.weight": (h,), "bert.embeddings.LayerNorm.bias": (h,)}
    for n in range(config["num_hidden_layers"]):
        layer = f"bert.encoder.layer.{n}."
        for part in ("attention.self.query", "attention.self.key", "attention.self.value",
                     "attention.output.dense"):
            out.update({f"{layer}{part}.weight": (h, h), f"{layer}{part}.bias": (h,)})
        out.update({f"{layer}intermediate.dense_act.weight": (i, h),
                    f"{layer}intermediate.dense_act.bias": (i,),
                    f"{layer}output.dense.weight": (h, i), f"{layer}output.dense.bias": (h,)})
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            out.update({f"{layer}{norm}.weight": (h,), f"{layer}{norm}.bias": (h,)})
    out.update({"bert.pooler.dense_act.weight": (h, h), "bert.pooler.dense_act.bias": (h,)})
    if heads == "squad":
        out.update({"qa_outputs.weight": (2, h), "qa_outputs.bias": (2,)})
    else:
        out.update({"cls.predictions.bias": (v,),
                    "cls.predictions.transform.dense_act.weight": (h, h),
                    "cls.predictions.transform.dense_act.bias": (h,),
                    "cls.predictions.transform.LayerNorm.weight": (h,),
                    "cls.predictions.transform.LayerNorm.bias": (h,),
                    "cls.seq_relationship.weight": (2, h), "cls.seq_relationship.bias": (2,)})
    return out


def weights(config=CONFIG, heads="pretraining"):
    """{NVIDIA name: float32 array}: distinct values per tensor, by formula."""
    out = {}
    for k, (name, shape) in enumerate(sorted(shapes(config, heads).items())):
        n = int(np.prod(shape))
        out[name] = (0.5 * np.sin(np.arange(n, dtype=np.float64) * 0.731 + k * 1.37)
                     ).astype(np.float32).reshape(shape)
    return out


def to_hf_name(name):
    """NVIDIA's name -> HuggingFace's."""
    return name.replace(".dense_act.", ".dense.")
