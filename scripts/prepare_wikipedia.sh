#!/usr/bin/env bash
# A Wikipedia dump -> pretraining TFRecords for both phases of NVIDIA's recipe, in one command:
#   1. prepare_corpus.py: the dump -> text shards (one sentence a line, a blank line between
#      articles), in parallel; rerunning after a kill keeps the finished shards
#   2. create_pretraining_data.py --mode=parallel: phase 1 records (seq 128, 20 predictions)
#   3. the same for phase 2 (seq 512, 80 predictions)
#   DUMP=enwiki-latest-pages-articles.xml.bz2 VOCAB=vocab.txt OUT=wikipedia scripts/prepare_wikipedia.sh
# Then: DATA_DIR=$OUT/phase1_seq128 scripts/run_pretraining_phase1.sh (and phase 2 likewise).
# Environment: OUT (./wikipedia_data), WORKERS (all cores), TEXT_SHARDS (256), RECORD_SHARDS
# (TEXT_SHARDS), LANGUAGE (en; zh for Chinese), LOWER_CASE (true), MIN_DOCUMENT_CHARS (200),
# DUPE_FACTOR (5), MASKED_LM_PROB (0.15), SEED (12345), PHASES ("1 2").
# Extra arguments go to prepare_corpus.py.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PY:-$ROOT/.venv/bin/python}"
: "${DUMP:?set DUMP to a MediaWiki dump (.xml or .xml.bz2; a comma list or a glob for several)}"
: "${VOCAB:?set VOCAB to the vocab.txt of the model to pretrain}"
OUT="${OUT:-$PWD/wikipedia_data}"
WORKERS="${WORKERS:-$(nproc)}"
TEXT_SHARDS="${TEXT_SHARDS:-256}"
RECORD_SHARDS="${RECORD_SHARDS:-$TEXT_SHARDS}"
source "$ROOT/scripts/check_settings.sh"
need_count WORKERS; need_count TEXT_SHARDS; need_count RECORD_SHARDS
for phase in ${PHASES:-1 2}; do
  case "$phase" in 1|2) ;; *) echo "error: PHASES='${PHASES}': use 1, 2 or '1 2'" >&2; exit 2 ;; esac
done

echo "== text: $DUMP -> $OUT/text ($TEXT_SHARDS shards, $WORKERS workers)"
"$PY" "$ROOT/prepare_corpus.py" --input_file="$DUMP" --output_dir="$OUT/text" \
  --num_output_shards="$TEXT_SHARDS" --num_workers="$WORKERS" --language="${LANGUAGE:-en}" \
  --min_document_chars="${MIN_DOCUMENT_CHARS:-200}" "$@"
TEXT="$OUT/text/part-*-of-$(printf %05d "$TEXT_SHARDS").txt"

for phase in ${PHASES:-1 2}; do
  if [ "$phase" = 1 ]; then seq=128; pred=20; else seq=512; pred=80; fi
  dir="$OUT/phase${phase}_seq${seq}"
  echo "== phase $phase records: seq $seq, $pred predictions -> $dir"
  "$PY" "$ROOT/create_pretraining_data.py" --mode=parallel --num_workers="$WORKERS" \
    --input_file="$TEXT" --vocab_file="$VOCAB" --do_lower_case="${LOWER_CASE:-true}" \
    --output_dir="$dir" --num_output_shards="$RECORD_SHARDS" --max_seq_length=$seq \
    --max_predictions_per_seq=$pred --masked_lm_prob="${MASKED_LM_PROB:-0.15}" \
    --dupe_factor="${DUPE_FACTOR:-5}" --random_seed="${SEED:-12345}"
done
echo "== done: text summary $OUT/text/prepare_corpus_summary.json; records in $OUT/phase*_seq*"
