#!/usr/bin/env bash
# Pretraining on N local workers with tf.distribute (MultiWorkerMirroredStrategy), no Horovod:
#   DATA_DIR=data/ BERT_CONFIG=bert_config.json OUTPUT_DIR=model_dir scripts/run_pretraining_multiworker.sh 8
# Each worker is one run_pretraining.py --device=multiworker process with its TF_CONFIG
# (a cluster of localhost:PORT .. PORT+N-1, default PORT 23456, and its index); where there are
# GPUs (those CUDA_VISIBLE_DEVICES lists, or all), worker i sees only the i-th (N GPUs at
# least; CUDA_VISIBLE_DEVICES= keeps the workers on the CPUs). WORKERS and
# HOSTS (Horovod's settings in run_pretraining.sh) are not passed on. --train_batch_size is the
# GLOBAL batch. Worker output is prefixed "[worker i]". The N ports must be free on this host
# (checked first: exit 2 naming the ones in use).
# Stopping: if a worker fails (or is killed), the others get SIGTERM, and SIGKILL if they still
# run STOP_GRACE seconds later (default 30: a worker waiting on a dead peer cannot finish); the
# job exits with the failed worker's status, and rerunning resumes from the last checkpoint.
# Ctrl-C or SIGTERM to this script is passed on as SIGTERM: the workers finish their loop,
# the chief writes a checkpoint, and they stop; a second Ctrl-C kills them (needed for a
# worker still starting: TensorFlow ignores SIGTERM while the cluster forms).
# Several hosts: start run_pretraining.py --device=multiworker on each with a TF_CONFIG that
# lists every host (see docs/devices.md). Extra arguments go to run_pretraining.py; other
# settings as scripts/run_pretraining.sh.
set -euo pipefail
usage="usage: scripts/run_pretraining_multiworker.sh N [run_pretraining.py flags]"
N="${1:?$usage}"; shift
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PY:-$HERE/../.venv/bin/python}"
PORT="${PORT:-23456}"
STOP_GRACE="${STOP_GRACE:-30}"
source "$HERE/check_settings.sh"
need_count N
need_count PORT
(( PORT + N - 1 <= 65535 )) || setting_error "PORT=$PORT: the ports PORT .. PORT+$((N - 1)) must lie within 1-65535"
need_count STOP_GRACE 0

# The ports TensorFlow's servers will listen on, the ones in use named before any worker starts
busy=$("$PY" -m bert_tf.distribute.ports "$PORT" "$N" 2>/dev/null) ||
  setting_error "PY=$PY could not run: set PY to the Python of the bert_tf environment"
[ -z "$busy" ] || setting_error "port $busy in use on this host: set PORT to the first of $N free ports"

hosts=""
for ((i = 0; i < N; i++)); do hosts+="${hosts:+, }\"localhost:$((PORT + i))\""; done
# The GPUs to hand out, one per worker: CUDA_VISIBLE_DEVICES's if set (empty: none, the
# workers train on the CPUs), else every GPU nvidia-smi lists
if [ -n "${CUDA_VISIBLE_DEVICES+set}" ]; then
  IFS=, read -ra gpu_ids <<< "$CUDA_VISIBLE_DEVICES"
else
  gpu_ids=()
  count=$( (nvidia-smi -L 2>/dev/null || true) | grep -c '^GPU' || true)
  for ((g = 0; g < count; g++)); do gpu_ids+=("$g"); done
fi
if [ "${#gpu_ids[@]}" -gt 0 ] && [ "${#gpu_ids[@]}" -lt "$N" ]; then
  setting_error "N=$N workers for ${#gpu_ids[@]} GPU(s) (${gpu_ids[*]}): each worker takes one; use N <= ${#gpu_ids[@]}," \
    "or CUDA_VISIBLE_DEVICES= to train on the CPUs"
fi

pids=()
signalled=0
on_signal() {  # $1: this script's exit status for the signal
  if [ "$signalled" -eq 0 ]; then
    signalled=$1
    echo "scripts/run_pretraining_multiworker.sh: stopping the workers: they finish their loop and" \
         "write a checkpoint (Ctrl-C again kills them)" >&2
    kill -TERM "${pids[@]}" 2>/dev/null || true
  else
    echo "scripts/run_pretraining_multiworker.sh: killing the workers" >&2
    kill -KILL "${pids[@]}" 2>/dev/null || true
  fi
}
trap 'on_signal 130' INT
trap 'on_signal 143' TERM
for ((i = 0; i < N; i++)); do
  [ "$signalled" -eq 0 ] || break  # stopped while starting: start no more
  gpu=()
  [ "${#gpu_ids[@]}" -eq 0 ] || gpu=(CUDA_VISIBLE_DEVICES="${gpu_ids[i]}")
  # WORKERS and HOSTS would make run_pretraining.sh start Horovod; the prefixer ignores
  # Ctrl-C and SIGTERM (a terminal or a scheduler may signal the whole group), so that the
  # workers' last lines get out
  env -u WORKERS -u HOSTS "${gpu[@]}" \
    TF_CONFIG="{\"cluster\": {\"worker\": [$hosts]}, \"task\": {\"type\": \"worker\", \"index\": $i}}" \
    DEVICE=multiworker PY="$PY" \
    "$HERE/run_pretraining.sh" "$@" > >(trap '' INT TERM; exec sed -u "s/^/[worker $i] /") 2>&1 &
  pids+=($!)
done
# a signal between a start and its pid being noted: the stop reaches every worker
[ "$signalled" -eq 0 ] || kill -TERM "${pids[@]}" 2>/dev/null || true

# Wait for every worker. The first failure stops the others: SIGTERM, then SIGKILL after
# STOP_GRACE seconds (a worker whose peer is gone cannot finish its loop). After Ctrl-C, a
# worker that stopped as asked (130, 143) is no failure: the chief may still be writing the
# checkpoint, and only a second Ctrl-C kills.
status=0
watchdog=""
worker_ended() {  # $1: its exit status
  [ "$1" -ne 0 ] && [ "$status" -eq 0 ] || return 0
  if [ "$signalled" -ne 0 ] && { [ "$1" -eq 130 ] || [ "$1" -eq 143 ]; }; then return 0; fi
  status=$1
  [ "${#running[@]}" -gt 0 ] || return 0
  echo "a worker failed (exit $1): stopping the others (killed if still running in $STOP_GRACE s)" >&2
  kill -TERM "${running[@]}" 2>/dev/null || true
  ( sleep "$STOP_GRACE" </dev/null >/dev/null 2>&1
    echo "scripts/run_pretraining_multiworker.sh: workers still running $STOP_GRACE s after one failed: killed" >&2
    kill -KILL "${running[@]}" 2>/dev/null ) &
  watchdog=$!
}
running=("${pids[@]}")
while [ "${#running[@]}" -gt 0 ]; do
  # returns when a worker has ended, or after a signal's trap; bash may have reaped several
  # workers by then (`wait -n` then says "no such job" for them), so each is looked at
  wait -n "${running[@]}" 2>/dev/null || true
  ended=()
  still=()
  for pid in "${running[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then still+=("$pid"); else ended+=("$pid"); fi
  done
  running=("${still[@]}")
  for pid in "${ended[@]}"; do
    rc=0
    wait "$pid" 2>/dev/null || rc=$?  # its status, kept by bash after it was reaped
    if [ "$rc" -lt 0 ]; then
      # bash 5.2 loses the status (-1) of a worker that ended while a signal's trap ran: after
      # Ctrl-C or SIGTERM, a worker stopping as asked; otherwise a failure of unknown status
      [ "$signalled" -ne 0 ] && rc=$signalled || rc=1
    fi
    worker_ended "$rc"
  done
done
[ -z "$watchdog" ] || kill "$watchdog" 2>/dev/null || true
# Stopped on request (the workers' own status for it is 143 or 130): this script's signal status
[ "$status" -ne 0 ] || status=$signalled
exit "$status"
