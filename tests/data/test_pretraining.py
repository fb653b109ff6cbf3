"""The instance algorithm as plain functions: documents, truncation, masking statistics."""

import random
import time

from bert_tf.data import pretraining


def test_split_documents_follows_googles_blank_line_rule():
    lines = [["a"], ["b"], None, None, [], ["c"], None, [], None]
    assert pretraining.split_documents(lines) == [[["a"], ["b"]], [["c"]]]


def test_truncate_trims_the_longer_segment_until_it_fits():
    a, b = list("abcdefgh"), list("xyz")
    pretraining.truncate_seq_pair(a, b, 6, random.Random(1))
    assert len(a) + len(b) == 6 and b == list("xyz") and "".join(a) in "abcdefgh"


def _googles_truncate(tokens_a, tokens_b, max_num_tokens, rng):
    """Google's truncate_seq_pair as written (one pop per step): the reference."""
    while len(tokens_a) + len(tokens_b) > max_num_tokens:
        trunc_tokens = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
        if rng.random() < 0.5:
            del trunc_tokens[0]
        else:
            trunc_tokens.pop()


def test_truncate_is_googles_step_by_step_result_and_random_state():
    cases = random.Random(2024)
    for _ in range(3000):
        len_a, len_b = cases.randint(0, 300), cases.randint(0, 300)
        limit = cases.choice([cases.randint(1, 300), cases.randint(1, 20), len_a + len_b - 1,
                              len_a + len_b])
        seed = cases.getrandbits(32)
        want_a, want_b = list(range(len_a)), list(range(1000, 1000 + len_b))
        got_a, got_b = list(want_a), list(want_b)
        google_rng, our_rng = random.Random(seed), random.Random(seed)
        _googles_truncate(want_a, want_b, limit, google_rng)
        pretraining.truncate_seq_pair(got_a, got_b, limit, our_rng)
        assert (got_a, got_b) == (want_a, want_b), (len_a, len_b, limit, seed)
        assert our_rng.random() == google_rng.random()  # the same number of draws


def test_truncate_is_linear_on_a_long_segment():
    """A text without newlines is one segment: 1.4M tokens cut to 125 (was quadratic)."""
    a, b = list(range(700_000)), list(range(700_000))
    start = time.perf_counter()
    pretraining.truncate_seq_pair(a, b, 125, random.Random(3))
    assert len(a) + len(b) == 125 and time.perf_counter() - start < 3


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
