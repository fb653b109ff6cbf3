"""Plain text corpora: documents out of UTF-8 files, streamed, with their positions.

Two layouts (--text_documents): "file", one document per file, its paragraphs separated by
blank lines (a book); "blank_line", documents separated by blank lines (Google's input
format, or one paragraph per document). Either way a paragraph's lines are joined and then
split into sentences like a dump's, so hard-wrapped text comes out one sentence a line.
Undecodable bytes are dropped, as Google's reader does.
"""

import os
import re

from bert_tf.corpus.sentences import SPACES, join_lines


def paragraphs(text, layout):
    """A document's paragraphs as single lines."""
    if layout == "blank_line":
        blocks = [text]
    else:
        blocks = re.split(r"\n\s*\n", text)
    return [p for p in (SPACES.sub(" ", join_lines(block.splitlines())) for block in blocks) if p]


def documents(path, layout):
    """(title, text, fraction of the file read at the document's end) for each document."""
    size = max(1, os.path.getsize(path))
    name = os.path.basename(path)
    if layout == "file":
        with open(path, "rb") as f:
            yield name, f.read().decode("utf-8", "ignore"), 1.0
        return
    lines, start, consumed = [], 0, 0
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            consumed += len(raw)
            line = raw.decode("utf-8", "ignore")
            if line.strip():
                if not lines:
                    start = number
                lines.append(line)
            elif lines:
                yield f"{name}:{start}", "".join(lines), consumed / size
                lines = []
    if lines:
        yield f"{name}:{start}", "".join(lines), 1.0
