"""Learn a WordPiece vocab from a corpus, for users who have none.

Words are split exactly as our (Google's) BasicTokenizer splits them, so the learned pieces
fit the tokenizer that will use them; the piece selection is tensorflow-text's WordPiece
vocabulary learner. Special tokens come first: [PAD]=0, [UNK], [CLS], [SEP], [MASK], then
`num_unused` `[unusedN]` slots (Google's vocabs keep such slots for later additions).
"""

import collections

from bert_tf import atomic
from bert_tf.tokenization import BasicTokenizer, SPECIAL_TOKENS, VocabError, convert_to_unicode


def count_words(lines, do_lower_case=True):
    """Lines -> Counter of BasicTokenizer words (each distinct raw word is split only once)."""
    raw = collections.Counter()
    for line in lines:
        raw.update(convert_to_unicode(line).split())
    basic, words = BasicTokenizer(do_lower_case), collections.Counter()
    for word, count in raw.items():
        for piece in basic.tokenize(word):
            words[piece] += count
    return words


def check_sizes(vocab_size, num_unused):
    """The learned pieces need room beside the special tokens and the unused slots."""
    if num_unused < 0:
        raise VocabError(f"--num_unused={num_unused} must be 0 or more")
    reserved = len(SPECIAL_TOKENS) + num_unused
    if vocab_size <= reserved:
        raise VocabError(f"--vocab_size={vocab_size} leaves no room for learned pieces beside "
                         f"the {reserved} reserved tokens ({len(SPECIAL_TOKENS)} special tokens "
                         f"and --num_unused={num_unused}); raise --vocab_size well above "
                         f"{reserved} or lower --num_unused")


def learn_vocab(word_counts, vocab_size, num_unused=0, min_count=2, max_token_length=50):
    """Counter of words -> vocab list (special tokens first), at most `vocab_size` entries."""
    from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as learner
    check_sizes(vocab_size, num_unused)
    reserved = list(SPECIAL_TOKENS) + [f"[unused{i}]" for i in range(num_unused)]
    vocab = learner.learn(list(word_counts.items()), vocab_size, reserved,
                          lower_thresh=min_count, max_token_length=max_token_length)
    # The learner aims at vocab_size within a slack and may overshoot. Its list is reserved
    # tokens, single characters, then pieces by falling count: cutting the tail drops the
    # rarest pieces and keeps every character, so every word stays representable.
    seen, unique = set(), []
    for token in vocab:
        if token not in seen:
            seen.add(token)
            unique.append(token)
    return unique[:vocab_size]


def write_vocab(tokens, path):
    atomic.write_text(path, "".join(t + "\n" for t in tokens))
