"""What a worker does to a batch of pages: keep, clean and split the articles into sentences.

Work travels as plain tuples (cheap to pickle to a spawned worker): an item is
(kind, shard, title, text) with kind "article", "redirect", "other_namespace" or "text", and
comes back as (shard, title, status, sentences) with status "kept", "disambiguation",
"too_short", "redirect" or "other_namespace". Items keep their order, so the output does
not depend on how many workers there are.
"""

import dataclasses

from bert_tf.corpus import sentences, text_files, wikitext


@dataclasses.dataclass(frozen=True)
class Rules:
    language: str = "en"
    min_document_chars: int = 200
    skip_disambiguation: bool = True
    text_documents: str = "file"


def _article_sentences(title, text, links, rules):
    if rules.skip_disambiguation and wikitext.is_disambiguation(title, text):
        return "disambiguation", []
    return "kept", [s for p in wikitext.paragraphs(text, links) for s in sentences.split(p, rules.language)]


def _text_sentences(text, rules):
    return "kept", [s for p in text_files.paragraphs(text, rules.text_documents)
                    for s in sentences.split(p, rules.language)]


def clean_batch(batch):
    """(rules, dropped link namespaces, items) -> results, one per item, in order."""
    rules, namespace_names, items = batch
    links = wikitext.LinkRules(namespace_names)
    results = []
    for kind, shard, title, text in items:
        if kind in ("redirect", "other_namespace"):
            results.append((shard, title, kind, []))
            continue
        status, found = (_article_sentences(title, text, links, rules) if kind == "article"
                         else _text_sentences(text, rules))
        if status == "kept" and sum(map(len, found)) < max(1, rules.min_document_chars):
            status, found = "too_short", []
        results.append((shard, title, status, found))
    return results
