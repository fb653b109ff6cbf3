"""MediaWiki XML dumps or plain text -> create_pretraining_data's input: one sentence a line,
a blank line between documents, in N shard files.

  python prepare_corpus.py --input_file=enwiki-latest-pages-articles.xml.bz2 \
      --output_dir=wiki_text/ --num_output_shards=64 --num_workers=8

  python prepare_corpus.py --input_file=books/ --text_documents=file --output_dir=books_text/ \
      --num_output_shards=8
"""

from absl import flags

from bert_tf import cli
from bert_tf.corpus import job

flags.DEFINE_string("input_file", None, "MediaWiki XML dumps (.xml, .xml.bz2; UTF-8 or UTF-16), "
                    "plain text files, or folders of .txt files: comma list, globs allowed.")
flags.DEFINE_string("output_dir", None, "Folder for part-00000-of-NNNNN.txt shards and "
                    f"{job.SUMMARY_NAME}.")
flags.DEFINE_integer("num_output_shards", 64, "How many shard files; shards are contiguous, "
                     "even runs of the input.")
flags.DEFINE_integer("num_workers", 1, "Worker processes that clean and split (the main "
                     "process reads and writes); 1 does everything in this process. The output "
                     "does not depend on it.")
flags.DEFINE_string("language", "en", "Sentence splitting rules (sentencex): an ISO 639 code "
                    "such as en, zh, bg; unknown codes use generic rules.")
flags.DEFINE_integer("min_document_chars", 200, "Drop an article or document whose kept "
                     "sentences hold fewer characters (stubs).")
flags.DEFINE_bool("skip_disambiguation", True, "Drop disambiguation and set-index pages.")
flags.DEFINE_enum("text_documents", "file", ["file", "blank_line"], "Plain text inputs: one "
                  "document per file (blank lines separate paragraphs) or documents separated "
                  "by blank lines.")
flags.mark_flags_as_required(["input_file", "output_dir"])
FLAGS = flags.FLAGS


def main(_):
    job.run(job.CorpusOptions(
        input_file=FLAGS.input_file, output_dir=FLAGS.output_dir,
        num_output_shards=FLAGS.num_output_shards, num_workers=FLAGS.num_workers,
        language=FLAGS.language, min_document_chars=FLAGS.min_document_chars,
        skip_disambiguation=FLAGS.skip_disambiguation, text_documents=FLAGS.text_documents))


if __name__ == "__main__":
    cli.run_main(main)
