#!/usr/bin/env bash
# Pretraining on N local workers with tf.distribute (MultiWorkerMirroredStrategy), no Horovod:
#   DATA_DIR=data/ BERT_CONFIG=bert_config.json OUTPUT_DIR=model_dir scripts/run_pretraining_multiworker.sh 8
# Each worker is one run_pretraining.py --device=multiworker process with its TF_CONFIG
# (a cluster of localhost:PORT .. PORT+N-1, default PORT 23456, and its index); on a host with
# at least N GPUs, worker i sees only GPU i (CUDA_VISIBLE_DEVICES). --train_batch_size is the
# GLOBAL batch. The job ends when every worker has ended; if one fails (or is killed), the
# others are stopped and the job exits with its status. Worker output is prefixed "[worker i]".
# Several hosts: start run_pretraining.py --device=multiworker on each with a TF_CONFIG that
# lists every host (see docs/devices.md). Extra arguments go to run_pretraining.py; other
# settings as scripts/run_pretraining.sh.
set -euo pipefail
N="${1:?usage: scripts/run_pretraining_multiworker.sh N [run_pretraining.py flags]}"; shift
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PORT="${PORT:-23456}"
hosts=""
for ((i = 0; i < N; i++)); do hosts+="${hosts:+, }\"localhost:$((PORT + i))\""; done
gpus=$( (nvidia-smi -L 2>/dev/null || true) | grep -c '^GPU' || true)

pids=()
stop_all() { kill "${pids[@]}" 2>/dev/null || true; }
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
for ((i = 0; i < N; i++)); do
  visible="${CUDA_VISIBLE_DEVICES-}"
  [ "$gpus" -ge "$N" ] && visible="$i"
  TF_CONFIG="{\"cluster\": {\"worker\": [$hosts]}, \"task\": {\"type\": \"worker\", \"index\": $i}}" \
  CUDA_VISIBLE_DEVICES="$visible" DEVICE=multiworker \
    "$HERE/run_pretraining.sh" "$@" > >(sed -u "s/^/[worker $i] /") 2>&1 &
  pids+=($!)
done
status=0
for ((done_count = 0; done_count < N; done_count++)); do
  rc=0; wait -n "${pids[@]}" || rc=$?
  if [ "$rc" -ne 0 ] && [ "$status" -eq 0 ]; then
    status=$rc
    echo "a worker failed (exit $rc): stopping the others" >&2
    stop_all
  fi
done
exit "$status"
