"""From raw corpora to create_pretraining_data's input: one sentence a line, a blank line
between documents.

`sources` finds and sniffs the inputs, `dump` streams pages out of MediaWiki XML dumps,
`text_files` reads plain text corpora, `wikitext` turns an article's markup into prose
paragraphs, `sentences` splits paragraphs into sentences, `job` shards, parallelizes,
resumes and summarizes (prepare_corpus.py). Nothing here imports TensorFlow.
"""
