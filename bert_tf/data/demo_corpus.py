"""The demo's corpus: the prose every Python installation carries (pydoc's topic help),
written in Google's input format: one sentence per line, a blank line between documents.

  python -m bert_tf.data.demo_corpus OUTPUT_TXT
"""

import re
import sys

from bert_tf import atomic

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'])")


def demo_documents():
    """One document per pydoc topic, one sentence per line; code-like lines dropped."""
    import pydoc_data.topics
    documents = []
    for name in sorted(pydoc_data.topics.topics):
        paragraphs = re.split(r"\n\s*\n", pydoc_data.topics.topics[name])
        sentences = []
        for paragraph in paragraphs:
            lines = [line.strip() for line in paragraph.splitlines()]
            if not lines or any(line.startswith((">>>", "...")) for line in lines):
                continue
            text = " ".join(line for line in lines if line)
            if sum(c.isalpha() for c in text) < 0.6 * len(text):
                continue  # grammar rules, tables, code
            sentences.extend(s.strip() for s in _SENTENCE_END.split(text) if len(s.split()) >= 3)
        if len(sentences) >= 2:
            documents.append(sentences)
    return documents


def write_corpus(path):
    with atomic.open_text(path) as f:
        for sentences in demo_documents():
            f.write("\n".join(sentences) + "\n\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m bert_tf.data.demo_corpus OUTPUT_TXT")
    write_corpus(sys.argv[1])
