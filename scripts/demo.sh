#!/usr/bin/env bash
# The demo: pretrain a small BERT end to end on text every Python installation carries.
#   1. corpus: pydoc's topic help as one sentence per line (or DEMO_CORPUS=your/*.txt)
#   2. learn_vocab.py: a WordPiece vocab from it (or DEMO_VOCAB=your/vocab.txt)
#   3. create_pretraining_data.py --mode=parallel: TFRecords
#   4. run_pretraining.py in rounds, evaluating after each: masked-LM accuracy climbs
# Environment: DEMO_DIR (default ./demo_out), DEMO_STEPS (1500), DEMO_ROUNDS (4).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PY:-$ROOT/.venv/bin/python}"
OUT="${DEMO_DIR:-$ROOT/demo_out}"
DEMO_STEPS="${DEMO_STEPS:-1500}"
DEMO_ROUNDS="${DEMO_ROUNDS:-4}"
source "$ROOT/scripts/check_settings.sh"
need_count DEMO_STEPS
need_count DEMO_ROUNDS
(( DEMO_ROUNDS <= DEMO_STEPS )) || setting_error "DEMO_ROUNDS=$DEMO_ROUNDS: at most DEMO_STEPS ($DEMO_STEPS)"
SEQ=64; PRED=10
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
mkdir -p "$OUT"

if [ -n "${DEMO_CORPUS:-}" ]; then
  CORPUS="$DEMO_CORPUS"
else
  CORPUS="$OUT/corpus.txt"
  "$PY" -m bert_tf.data.demo_corpus "$CORPUS"
fi
echo "== corpus: $CORPUS"

VOCAB="${DEMO_VOCAB:-$OUT/vocab.txt}"
if [ ! -f "$VOCAB" ]; then
  "$PY" "$ROOT/learn_vocab.py" --input_file="$CORPUS" --output_file="$VOCAB" --vocab_size=4000 --min_count=2
fi
echo "== vocab: $VOCAB ($(wc -l < "$VOCAB") tokens)"

rm -rf "$OUT/data" "$OUT/model"
"$PY" "$ROOT/create_pretraining_data.py" --mode=parallel --num_workers=2 --input_file="$CORPUS" \
  --vocab_file="$VOCAB" --output_dir="$OUT/data" --num_output_shards=2 --max_seq_length=$SEQ \
  --max_predictions_per_seq=$PRED --dupe_factor=10
"$PY" -m bert_tf.config --preset=tiny --vocab_file="$VOCAB" --max_position_embeddings=$SEQ \
  --output="$OUT/bert_config.json"

common=(--bert_config_file="$OUT/bert_config.json" --input_files_dir="$OUT/data"
        --output_dir="$OUT/model" --max_seq_length=$SEQ --max_predictions_per_seq=$PRED
        --train_batch_size=32 --eval_batch_size=64 --learning_rate=1e-3
        --num_warmup_steps=$((DEMO_STEPS / 10)) --iterations_per_loop=50 --display_loss_steps=50
        --save_checkpoints_steps=$((DEMO_STEPS / DEMO_ROUNDS)) --max_eval_steps=10 --use_xla)
for round in $(seq 1 "$DEMO_ROUNDS"); do
  steps=$((DEMO_STEPS * round / DEMO_ROUNDS))
  log="$OUT/round$round.log"
  # tee and grep ignore Ctrl-C (a terminal sends it to the whole group), so that the run's
  # own last lines (a checkpoint written, where) reach the log; the run's status is the demo's
  statuses=(0 0)
  "$PY" "$ROOT/run_pretraining.py" "${common[@]}" --do_train --do_eval --num_train_steps=$DEMO_STEPS \
    --stop_at_step=$steps 2>&1 | (trap '' INT; tee "$log") | (trap '' INT; grep -E "global_step = |Eval results" || true) ||
    statuses=("${PIPESTATUS[@]}")
  if [ "${statuses[0]}" -ne 0 ]; then
    echo "error: run_pretraining.py ended with exit status ${statuses[0]}; the end of $log:" >&2
    tail -n 20 "$log" >&2
    exit "${statuses[0]}"
  fi
  [ "${statuses[1]}" -eq 0 ] || { echo "error: could not write the log $log (tee failed)" >&2; exit 1; }
  acc=$(grep masked_lm_accuracy "$OUT/model/eval_results.txt" | cut -d' ' -f3)
  echo "== after $steps steps: masked_lm_accuracy = $acc"
done
echo "== chance: predicting the most frequent token would score about $("$PY" -m bert_tf.data.mlm_baseline "$OUT/data")"
