"""Documents -> pretraining instances: Google's algorithm, random call for random call.

Given the same documents, vocab, flags and `random.Random(seed)`, `create_training_instances`
makes exactly the instances Google's `create_pretraining_data.py` makes: the same document
shuffle, dupe-factor passes, short-sequence draws, random-next-sentence choices, truncation
and 80/10/10 masking (whole-word masking groups a word's `##` pieces, as Google's current
script does). Everything here is a plain function over Python lists.
"""

import dataclasses
import random


@dataclasses.dataclass
class MaskingOptions:
    masked_lm_prob: float = 0.15
    max_predictions_per_seq: int = 20
    do_whole_word_mask: bool = False


@dataclasses.dataclass
class Instance:
    tokens: list
    segment_ids: list
    masked_lm_positions: list
    masked_lm_labels: list
    is_random_next: bool


# ---------------------------------------------------------------------- documents
def split_documents(lines_tokens):
    """Tokenized lines (one list per input line; None for a blank line) -> documents.

    Google's rule: a blank line ends a document, a line that tokenizes to nothing is skipped,
    and empty documents are dropped.
    """
    documents = [[]]
    for tokens in lines_tokens:
        if tokens is None:
            documents.append([])
        elif tokens:
            documents[-1].append(tokens)
    return [d for d in documents if d]


# ---------------------------------------------------------------------- instances
def create_training_instances(documents, vocab_words, rng, max_seq_length=128, dupe_factor=10,
                              short_seq_prob=0.1, masking=MaskingOptions(), finish=None):
    """Google's create_training_instances after reading: shuffles `documents` in place.

    `finish(instance)`, when given, turns each instance into what the list keeps (e.g. its
    serialized record, far smaller than the instance); it draws no random numbers, so the
    result is Google's shuffled order either way.
    """
    shuffle(rng, documents)
    instances = []
    for _ in range(dupe_factor):
        for document_index in range(len(documents)):
            made = create_instances_from_document(documents, document_index, max_seq_length,
                                                  short_seq_prob, masking, vocab_words, rng)
            instances.extend(map(finish, made) if finish else made)
    shuffle(rng, instances)
    return instances


def create_instances_from_document(documents, document_index, max_seq_length, short_seq_prob,
                                   masking, vocab_words, rng):
    """Instances (segment A, segment B, is_random_next) from one document."""
    document = documents[document_index]
    max_num_tokens = max_seq_length - 3  # [CLS], [SEP], [SEP]
    target_seq_length = max_num_tokens
    if rng.random() < short_seq_prob:
        target_seq_length = rng.randint(2, max_num_tokens)

    instances, chunk, chunk_length, i = [], [], 0, 0
    while i < len(document):
        chunk.append(document[i])
        chunk_length += len(document[i])
        if i == len(document) - 1 or chunk_length >= target_seq_length:
            if chunk:
                tokens_a, tokens_b, is_random_next, unused = _pair_from_chunk(
                    chunk, documents, document_index, target_seq_length, rng)
                i -= unused
                truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng)
                instances.append(_instance(tokens_a, tokens_b, is_random_next, masking,
                                           vocab_words, rng))
            chunk, chunk_length = [], 0
        i += 1
    return instances


def _pair_from_chunk(chunk, documents, document_index, target_seq_length, rng):
    """Split a chunk into A and B, or A and a random B; returns the unused segment count."""
    a_end = rng.randint(1, len(chunk) - 1) if len(chunk) >= 2 else 1
    tokens_a = [t for segment in chunk[:a_end] for t in segment]
    tokens_b = []
    if len(chunk) == 1 or rng.random() < 0.5:
        target_b_length = target_seq_length - len(tokens_a)
        for _ in range(10):
            random_document_index = rng.randint(0, len(documents) - 1)
            if random_document_index != document_index:
                break
        random_document = documents[random_document_index]
        random_start = rng.randint(0, len(random_document) - 1)
        for j in range(random_start, len(random_document)):
            tokens_b.extend(random_document[j])
            if len(tokens_b) >= target_b_length:
                break
        return tokens_a, tokens_b, True, len(chunk) - a_end
    for segment in chunk[a_end:]:
        tokens_b.extend(segment)
    return tokens_a, tokens_b, False, 0


def _instance(tokens_a, tokens_b, is_random_next, masking, vocab_words, rng):
    tokens = ["[CLS]"] + tokens_a + ["[SEP]"] + tokens_b + ["[SEP]"]
    segment_ids = [0] * (len(tokens_a) + 2) + [1] * (len(tokens_b) + 1)
    tokens, positions, labels = create_masked_lm_predictions(tokens, masking, vocab_words, rng)
    return Instance(tokens, segment_ids, positions, labels, is_random_next)


def truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng):
    """Trim the longer segment, from the front or the back at random, until they fit.

    Google deletes one token per step (`del longer[0]` or `longer.pop()`, one `rng.random()`
    each), which is quadratic on a long segment (a text without newlines is one segment).
    Here the steps only count what each side loses, then each list is cut once: the same
    random calls in the same order, the same result, in linear time.
    """
    length_a, length_b = len(tokens_a), len(tokens_b)
    front_a = back_a = front_b = back_b = 0
    draw = rng.random
    while length_a + length_b > max_num_tokens:
        if length_a > length_b:
            if draw() < 0.5:
                front_a += 1
            else:
                back_a += 1
            length_a -= 1
        else:
            if draw() < 0.5:
                front_b += 1
            else:
                back_b += 1
            length_b -= 1
    for tokens, front, back in ((tokens_a, front_a, back_a), (tokens_b, front_b, back_b)):
        if back:
            del tokens[len(tokens) - back:]
        if front:
            del tokens[:front]


def shuffle(rng, items):
    """`rng.shuffle(items)`, call for call, but about 3x faster for `random.Random`."""
    if type(rng) is random.Random and _SHUFFLE_IS_EXACT:
        _cpython_shuffle(rng, items)
    else:
        rng.shuffle(items)


def _cpython_shuffle(rng, items):
    """CPython's Random.shuffle inlined: getrandbits with rejection, top index down."""
    getrandbits = rng.getrandbits
    for i in range(len(items) - 1, 0, -1):
        n = i + 1
        k = n.bit_length()
        j = getrandbits(k)
        while j >= n:
            j = getrandbits(k)
        items[i], items[j] = items[j], items[i]


def _same_as_interpreter_shuffle():
    """Checked once at import: the inlined shuffle draws exactly what this Python's does."""
    a, b = random.Random(7), random.Random(7)
    for length in (0, 1, 2, 3, 17, 64, 129, 1000):
        x, y = list(range(length)), list(range(length))
        a.shuffle(x)
        _cpython_shuffle(b, y)
        if x != y or a.random() != b.random():
            return False
    return True


_SHUFFLE_IS_EXACT = _same_as_interpreter_shuffle()


def create_masked_lm_predictions(tokens, masking, vocab_words, rng):
    """Google's masking: shuffled candidates (words when whole-word), 80% [MASK], 10% kept,
    10% a random vocab word. Returns (output tokens, positions, labels)."""
    num_to_predict = min(masking.max_predictions_per_seq,
                         max(1, int(round(len(tokens) * masking.masked_lm_prob))))
    if masking.do_whole_word_mask:
        chosen = _whole_word_choice(tokens, num_to_predict, rng)
    else:
        # One-token candidates never overlap or overshoot the budget, so Google's selection
        # loop reduces to the first `num_to_predict` of the shuffled candidates.
        candidates = [i for i, t in enumerate(tokens) if t != "[CLS]" and t != "[SEP]"]
        shuffle(rng, candidates)
        chosen = candidates[:num_to_predict]
    output = list(tokens)
    draw = rng.random
    for index in chosen:
        if draw() < 0.8:
            output[index] = "[MASK]"
        elif draw() < 0.5:
            output[index] = tokens[index]
        else:
            output[index] = vocab_words[rng.randint(0, len(vocab_words) - 1)]
    chosen = sorted(chosen)
    return output, chosen, [tokens[i] for i in chosen]


def _whole_word_choice(tokens, num_to_predict, rng):
    """Google's whole-word candidate selection: a word's `##` pieces go together.

    Google draws each chosen index's replacement right after choosing its word; choosing all
    words first and drawing afterwards consumes the same numbers in the same order, because
    the choice itself draws none.
    """
    candidates = []
    for i, token in enumerate(tokens):
        if token == "[CLS]" or token == "[SEP]":
            continue
        if candidates and token.startswith("##"):
            candidates[-1].append(i)
        else:
            candidates.append([i])
    shuffle(rng, candidates)
    chosen = []
    for index_set in candidates:
        if len(chosen) >= num_to_predict:
            break
        if len(chosen) + len(index_set) > num_to_predict:
            continue
        chosen.extend(index_set)  # words never overlap, so Google's covered check never fires
    return chosen


def shard_seed(random_seed, shard_index):
    """The seed of one shard in parallel mode: a fixed function of the flag and the shard."""
    return random.Random(f"{random_seed}:{shard_index}").getrandbits(63)
