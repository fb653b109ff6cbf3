"""The instance algorithm as plain functions: documents, truncation, masking statistics."""

import random

from bert_tf.data import pretraining


def test_split_documents_follows_googles_blank_line_rule():
    lines = [["a"], ["b"], None, None, [], ["c"], None, [], None]
    assert pretraining.split_documents(lines) == [[["a"], ["b"]], [["c"]]]


def test_truncate_trims_the_longer_segment_until_it_fits():
    a, b = list("abcdefgh"), list("xyz")
    pretraining.truncate_seq_pair(a, b, 6, random.Random(1))
    assert len(a) + len(b) == 6 and b == list("xyz") and "".join(a) in "abcdefgh"


def test_masking_80_10_10_and_budget():
    vocab = [f"w{i}" for i in range(1000)]
    tokens = ["[CLS]"] + [f"t{i}" for i in range(100)] + ["[SEP]"]
    options = pretraining.MaskingOptions(masked_lm_prob=0.15, max_predictions_per_seq=20)
    rng = random.Random(0)
    counts = {"mask": 0, "same": 0, "random": 0}
    for _ in range(400):
        out, positions, labels = pretraining.create_masked_lm_predictions(tokens, options, vocab, rng)
        assert len(positions) == 15 and positions == sorted(positions)
        assert 0 not in positions and 101 not in positions
        assert labels == [tokens[p] for p in positions]
        for p in positions:
            counts["mask" if out[p] == "[MASK]" else "same" if out[p] == tokens[p] else "random"] += 1
    total = sum(counts.values())
    assert abs(counts["mask"] / total - 0.8) < 0.02
    assert abs(counts["same"] / total - 0.1) < 0.015 and abs(counts["random"] / total - 0.1) < 0.015


def test_whole_word_masking_masks_all_pieces_of_a_word():
    tokens = ["[CLS]", "un", "##want", "##ed", "run", "##ning", "go", "[SEP]"]
    options = pretraining.MaskingOptions(0.5, 4, do_whole_word_mask=True)
    for seed in range(30):
        _, positions, _ = pretraining.create_masked_lm_predictions(tokens, options, ["x"], random.Random(seed))
        words = [{1, 2, 3}, {4, 5}, {6}]
        chosen = set(positions)
        assert all(word <= chosen or not (word & chosen) for word in words)
        assert len(positions) <= 4


def test_instances_have_cls_sep_and_segments():
    docs = [[[f"d{d}s{s}w{w}" for w in range(7)] for s in range(6)] for d in range(5)]
    instances = pretraining.create_training_instances(
        docs, ["x"], random.Random(3), max_seq_length=32, dupe_factor=2, short_seq_prob=0.1,
        masking=pretraining.MaskingOptions(0.15, 5))
    assert instances
    for inst in instances:
        assert inst.tokens[0] == "[CLS]" and inst.tokens[-1] == "[SEP]" and len(inst.tokens) <= 32
        first_sep = inst.tokens.index("[SEP]")
        assert inst.segment_ids == [0] * (first_sep + 1) + [1] * (len(inst.tokens) - first_sep - 1)
    assert 0.2 < sum(i.is_random_next for i in instances) / len(instances) < 0.8


def test_shard_seeds_differ_and_are_stable():
    assert pretraining.shard_seed(12345, 0) == pretraining.shard_seed(12345, 0)
    assert len({pretraining.shard_seed(12345, s) for s in range(100)}) == 100
    assert pretraining.shard_seed(1, 0) != pretraining.shard_seed(2, 0)
