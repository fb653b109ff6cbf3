"""BertConfig: Google's files read and written as they are, validation messages, presets."""

import json

import pytest

from bert_tf.config import BertConfig, ConfigError, preset
from conftest import ROOT, need

GOOGLE_CONFIGS = ["uncased_L-12_H-768_A-12", "uncased_L-24_H-1024_A-16", "cased_L-12_H-768_A-12",
                  "multi_cased_L-12_H-768_A-12", "chinese_L-12_H-768_A-12"]


@pytest.mark.parametrize("name", GOOGLE_CONFIGS)
def test_google_configs_round_trip_with_their_extra_fields(name, tmp_path):
    path = need(f"bert_google/{name}/bert_config.json")
    original = json.loads(path.read_text())
    config = BertConfig.from_json_file(path)
    assert config.hidden_act == "gelu" and config.vocab_size == original["vocab_size"]
    config.to_json_file(tmp_path / "c.json")
    assert json.loads((tmp_path / "c.json").read_text()) == original


def test_chinese_config_keeps_unused_pooler_fields_in_extra():
    config = BertConfig.from_json_file(need("bert_google/chinese_L-12_H-768_A-12/bert_config.json"))
    assert config.extra["pooler_type"] == "first_token_transform"
    assert config.extra["directionality"] == "bidi"


@pytest.mark.parametrize("change,field", [
    ({"hidden_size": 101}, "hidden_size"),
    ({"hidden_act": "gelu2"}, "hidden_act"),
    ({"num_hidden_layers": 0}, "num_hidden_layers"),
    ({"vocab_size": -3}, "vocab_size"),
    ({"intermediate_size": 1.5}, "intermediate_size"),
    ({"hidden_dropout_prob": 1.0}, "hidden_dropout_prob"),
    ({"initializer_range": 0}, "initializer_range"),
])
def test_invalid_fields_are_named_with_the_file(tmp_path, change, field):
    data = {**preset("tiny").to_dict(), **change}
    path = tmp_path / "bert_config.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as e:
        BertConfig.from_json_file(path)
    assert str(path) in str(e.value) and f"'{field}'" in str(e.value)


def test_divisibility_message_gives_both_numbers():
    with pytest.raises(ConfigError, match=r"hidden_size.*\(100\).*num_attention_heads \(12\)"):
        BertConfig(vocab_size=10, hidden_size=100, num_attention_heads=12)


def test_unreadable_and_non_json_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        BertConfig.from_json_file(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{ vocab_size: 3 ")
    with pytest.raises(ConfigError, match=r"bad.json: not valid JSON \(line 1"):
        BertConfig.from_json_file(bad)
    arr = tmp_path / "list.json"
    arr.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="expected a JSON object"):
        BertConfig.from_json_file(arr)
    nov = tmp_path / "novocab.json"
    nov.write_text("{}")
    with pytest.raises(ConfigError, match="'vocab_size' is missing"):
        BertConfig.from_json_file(nov)


def test_presets():
    base = preset("base")
    assert (base.hidden_size, base.num_hidden_layers, base.intermediate_size) == (768, 12, 3072)
    large = preset("large", vocab_size=21128)
    assert (large.hidden_size, large.num_attention_heads, large.vocab_size) == (1024, 16, 21128)
    assert preset("tiny").num_hidden_layers == 2
    with pytest.raises(ConfigError, match="unknown preset 'huge'"):
        preset("huge")


def test_hf_activation_names_map_to_googles():
    hf = {"vocab_size": 10, "hidden_size": 8, "num_attention_heads": 2, "num_hidden_layers": 1,
          "intermediate_size": 16}
    assert BertConfig.from_hf_dict({**hf, "hidden_act": "gelu"}).hidden_act == "gelu_exact"
    assert BertConfig.from_hf_dict({**hf, "hidden_act": "gelu_new"}).hidden_act == "gelu"
    assert BertConfig.from_hf_dict({**hf, "hidden_act": "gelu_pytorch_tanh"}).hidden_act == "gelu"
    assert BertConfig.from_hf_dict({**hf, "hidden_act": "gelu"}).to_hf_dict()["hidden_act"] == "gelu"
    assert BertConfig.from_hf_dict({**hf, "hidden_act": "gelu_new"}).to_hf_dict()["hidden_act"] == "gelu_new"
    with pytest.raises(ConfigError, match="hidden_act"):
        BertConfig.from_hf_dict({**hf, "hidden_act": "mish"})
    with pytest.raises(ConfigError, match="position_embedding_type"):
        BertConfig.from_hf_dict({**hf, "position_embedding_type": "relative_key"})


# ---------------------------------------------------------------------- NEZHA
CONFIGS = ROOT / "configs"
ASCEND_NEZHA_LARGE = {"attention_probs_dropout_prob": 0.1, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
                      "hidden_size": 1024, "initializer_range": 0.02, "intermediate_size": 4096,
                      "max_position_embeddings": 512, "num_attention_heads": 16, "num_hidden_layers": 24,
                      "type_vocab_size": 2, "vocab_size": 21136, "use_relative_position": True}


@pytest.mark.parametrize("name,preset_name", [("nezha_large_config.json", "nezha_large"),
                                              ("nezha_base_config.json", "nezha_base")])
def test_shipped_nezha_configs_round_trip_and_equal_their_presets(name, preset_name, tmp_path):
    original = json.loads((CONFIGS / name).read_text())
    if preset_name == "nezha_large":
        assert original == ASCEND_NEZHA_LARGE  # the Ascend port's file, as it ships
    config = BertConfig.from_json_file(CONFIGS / name)
    assert config.use_relative_position and config.max_relative_position == 64  # absent -> 64
    config.to_json_file(tmp_path / "c.json")
    assert json.loads((tmp_path / "c.json").read_text()) == original  # no max_relative_position added
    assert preset(preset_name) == config


def test_nezha_fields_are_written_only_when_set_or_named(tmp_path):
    plain = preset("tiny").to_dict()
    assert "use_relative_position" not in plain and "max_relative_position" not in plain
    nezha = preset("tiny", use_relative_position=True, max_relative_position=127).to_dict()
    assert nezha["use_relative_position"] is True and nezha["max_relative_position"] == 127
    named = {**plain, "use_relative_position": False, "max_relative_position": 64}
    path = tmp_path / "named.json"
    path.write_text(json.dumps(named))
    BertConfig.from_json_file(path).to_json_file(tmp_path / "again.json")
    assert json.loads((tmp_path / "again.json").read_text()) == named


@pytest.mark.parametrize("change,field", [
    ({"max_relative_position": 0}, "max_relative_position"),
    ({"max_relative_position": -5}, "max_relative_position"),
    ({"max_relative_position": 2.5}, "max_relative_position"),
    ({"max_relative_position": True}, "max_relative_position"),
    ({"use_relative_position": "yes"}, "use_relative_position"),
    ({"use_relative_position": True, "hidden_size": 126, "num_attention_heads": 2}, "hidden_size"),
])
def test_invalid_nezha_fields_are_named_with_the_file(tmp_path, change, field):
    path = tmp_path / "bert_config.json"
    path.write_text(json.dumps({**preset("tiny").to_dict(), "use_relative_position": True, **change}))
    with pytest.raises(ConfigError) as e:
        BertConfig.from_json_file(path)
    assert str(path) in str(e.value) and f"'{field}'" in str(e.value)


def test_seq_length_rule_bert_stops_at_its_table_nezha_takes_any_length():
    bert = preset("micro", vocab_size=50)  # max_position_embeddings=128
    bert.check_seq_length(128)
    with pytest.raises(ConfigError, match=r"--max_seq_length=129 must be between 1 and "
                                          r"max_position_embeddings=128 of preset:micro"):
        bert.check_seq_length(129)
    with pytest.raises(ConfigError, match="--doc_len=2 must be at least 3"):
        bert.check_seq_length(2, flag="--doc_len", minimum=3)
    nezha = bert.replace(use_relative_position=True)
    nezha.check_seq_length(4096)
    with pytest.raises(ConfigError, match="must be at least 3"):
        nezha.check_seq_length(2, minimum=3)


def test_hf_nezha_config_both_ways():
    config = preset("nezha_base", max_relative_position=127)
    hf = config.to_hf_dict()
    assert hf["model_type"] == "nezha" and hf["architectures"] == ["NezhaModel"]
    assert hf["max_relative_position"] == 127 and hf["hidden_act"] == "gelu_new"
    assert "use_relative_position" not in hf and "position_embedding_type" not in hf
    back = BertConfig.from_hf_dict(hf)
    assert back == config
    silent = {k: v for k, v in hf.items() if k != "max_relative_position"}
    assert BertConfig.from_hf_dict(silent).max_relative_position == 64  # NezhaConfig's default
    bert_hf = preset("base").to_hf_dict()
    assert bert_hf["model_type"] == "bert" and "max_relative_position" not in bert_hf
    assert not BertConfig.from_hf_dict(bert_hf).use_relative_position
