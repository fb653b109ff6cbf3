#!/usr/bin/env bash
# Pretraining on N local workers with tf.distribute (MultiWorkerMirroredStrategy), no Horovod:
#   DATA_DIR=data/ BERT_CONFIG=bert_config.json OUTPUT_DIR=model_dir scripts/run_pretraining_multiworker.sh 8
# Each worker is one run_pretraining.py --device=multiworker process with its TF_CONFIG
# (a cluster of localhost:PORT .. PORT+N-1, default PORT 23456, and its index); with at least
# N GPUs (those CUDA_VISIBLE_DEVICES lists, or all), worker i sees only the i-th. WORKERS and
# HOSTS (Horovod's settings in run_pretraining.sh) are not passed on. --train_batch_size is the
# GLOBAL batch. Worker output is prefixed "[worker i]". The N ports must be free on this host
# (checked first: exit 2 naming the ones in use).
# Stopping: if a worker fails (or is killed), the others get SIGTERM, and SIGKILL if they still
# run STOP_GRACE seconds later (default 30: a worker waiting on a dead peer cannot finish); the
# job exits with the failed worker's status, and rerunning resumes from the last checkpoint.
# Ctrl-C or SIGTERM to this script is passed on as SIGTERM: the workers finish their loop,
# write a checkpoint and stop; a second Ctrl-C kills them.
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

# The ports TensorFlow's servers will listen on (all interfaces), bound here first to find
# the ones in use (a port merely waiting out a closed connection counts as free, as for TF).
busy=$("$PY" - "$PORT" "$N" 2>/dev/null <<'EOF'
import socket, sys
first, count = int(sys.argv[1]), int(sys.argv[2])
for port in range(first, first + count):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("", port))
        except OSError:
            print(port, end=" ")
EOF
) || setting_error "PY=$PY could not run: set PY to the Python of the bert_tf environment"
[ -z "$busy" ] || setting_error "port ${busy% } in use on this host: set PORT to the first of $N free ports"

hosts=""
for ((i = 0; i < N; i++)); do hosts+="${hosts:+, }\"localhost:$((PORT + i))\""; done
# The GPUs to hand out, one per worker when there are enough: CUDA_VISIBLE_DEVICES's if set
# (empty: none), else every GPU nvidia-smi lists
if [ -n "${CUDA_VISIBLE_DEVICES+set}" ]; then
  IFS=, read -ra gpu_ids <<< "$CUDA_VISIBLE_DEVICES"
else
  gpu_ids=()
  count=$( (nvidia-smi -L 2>/dev/null || true) | grep -c '^GPU' || true)
  for ((g = 0; g < count; g++)); do gpu_ids+=("$g"); done
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
  visible="${CUDA_VISIBLE_DEVICES-}"
  [ "${#gpu_ids[@]}" -ge "$N" ] && visible="${gpu_ids[i]}"
  # WORKERS and HOSTS would make run_pretraining.sh start Horovod; the prefixer ignores
  # Ctrl-C (a terminal sends it to the whole group) so that the workers' last lines get out
  env -u WORKERS -u HOSTS \
    TF_CONFIG="{\"cluster\": {\"worker\": [$hosts]}, \"task\": {\"type\": \"worker\", \"index\": $i}}" \
    CUDA_VISIBLE_DEVICES="$visible" DEVICE=multiworker PY="$PY" \
    "$HERE/run_pretraining.sh" "$@" > >(trap '' INT; exec sed -u "s/^/[worker $i] /") 2>&1 &
  pids+=($!)
done

# Wait for every worker. The first to end with a failure (or stopped on request) stops the
# others: SIGTERM, then SIGKILL after STOP_GRACE seconds (a worker whose peer is gone cannot
# finish its loop, and one still starting ignores SIGTERM).
status=0
watchdog=""
worker_ended() {  # $1: its exit status
  [ "$1" -ne 0 ] && [ "$status" -eq 0 ] || return 0
  status=$1
  [ "${#running[@]}" -gt 0 ] || return 0
  if [ "$signalled" -eq 0 ]; then
    echo "a worker failed (exit $1): stopping the others (killed if still running in $STOP_GRACE s)" >&2
    kill -TERM "${running[@]}" 2>/dev/null || true
  fi
  ( sleep "$STOP_GRACE" </dev/null >/dev/null 2>&1
    echo "scripts/run_pretraining_multiworker.sh: workers still running $STOP_GRACE s after one ended: killed" >&2
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
    worker_ended "$rc"
  done
done
[ -z "$watchdog" ] || kill "$watchdog" 2>/dev/null || true
# Stopped on request (the workers' own status for it is 143): this script's signal status
if [ "$signalled" -ne 0 ] && { [ "$status" -eq 0 ] || [ "$status" -eq 143 ]; }; then status=$signalled; fi
exit "$status"
