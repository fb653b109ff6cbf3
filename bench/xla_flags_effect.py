"""Which XLA_FLAGS change the program XLA compiles here, before anyone times them.

A flag the build ignores, or that needs another flag to act (oneDNN's fusion types need
`--xla_cpu_use_onednn=true`), or whose pass declines (a cost model), leaves the optimized HLO
as it was, and timing it measures the default again: two earlier flag tables in
docs/benchmarks.md did that. This compiles one BERT block forward and backward (the
feed-forward dots, bias, GELU, residual, layer-norm moments, attention's batched dots and
softmax) in a fresh process per flag set, dumps XLA's optimized HLO, and compares it, metadata
removed, with the default's: the dots XLA emits itself, the dots and reductions each library
fusion (YNNPACK, XNNPACK, oneDNN) took over, the custom calls. Flags that act after the HLO
(code generation, e.g. vector width) are not seen here: this is for library and HLO-pass flags.

Each flag set's outputs are checked too: seven of BERT's expressions on random inputs
(attention's scores with an additive mask, its probabilities, dense + bias + residual,
dense + bias + GELU, GELU into a dense, two chained dots, the gradients of a block with
attention, feed-forward and layer-norm moments), each compiled as its own function, all in
one fresh process (a new one after a probe that kills it), against the default's results
(not run for a flag set XLA refuses as unknown: every probe would fail alike).
A library fusion that compiles but computes something else is as unusable as one that
crashes.

  python bench/xla_flags_effect.py                          # the flags studied so far
  python bench/xla_flags_effect.py "--xla_cpu_foo=1" ...    # or your own, one set per argument
"""

import glob
import os
import re
import signal
import subprocess
import sys
import tempfile
from collections import Counter

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPILE_TIMEOUT_S = 600
CALL_REFERENCE = r"(?:calls|to_apply|condition|body|called_computations|branch_computations)=(\{[^}]*\}|%[^,\s]+)"

STUDIED = [
    "--xla_cpu_use_onednn=true",
    "--xla_cpu_experimental_onednn_fusion_type=dot",
    "--xla_cpu_experimental_onednn_fusion_type=dot,eltwise,reduce",
    "--xla_cpu_use_onednn=true --xla_cpu_experimental_onednn_fusion_type=dot",
    "--xla_cpu_use_onednn=true --xla_cpu_experimental_onednn_fusion_type=dot,eltwise,reduce",
    "--xla_cpu_experimental_onednn_custom_call=true",
    "--xla_cpu_use_onednn=true --xla_cpu_experimental_onednn_custom_call=true",
    "--xla_cpu_experimental_xnn_fusion_type=dot",
    "--xla_cpu_experimental_xnn_fusion_type=dot,eltwise,reduce",
    "--xla_cpu_experimental_xnn_fusion_type=dot"
    " --xla_cpu_experimental_xnn_graph_fusion_mode=XNN_GRAPH_FUSION_MODE_BYPASS_COST_MODEL",
    "--xla_cpu_use_xnnpack=true",
    "--xla_cpu_use_thunk_runtime=false",
    "--xla_cpu_experimental_ynn_fusion_type=reduce",
    "--xla_cpu_experimental_ynn_fusion_type=dot",
    "--xla_cpu_experimental_ynn_fusion_type=dot,eltwise,reduce",
    "--xla_backend_extra_options=xla_cpu_use_multi_output_fusion",
]

BLOCK = """
import bert_tf, tensorflow as tf
from bert_tf.modeling import gelu
@tf.function(jit_compile=True)
def block(x, w1, b1, w2, q):
    with tf.GradientTape() as tape:
        tape.watch([x, w1, w2, q])
        scores = tf.nn.softmax(tf.matmul(q, q, transpose_b=True))  # attention's batched dots
        y = tf.matmul(gelu(tf.matmul(x, w1) + b1), w2) + x
        mean, var = tf.nn.moments(y, [-1], keepdims=True)
        loss = tf.reduce_sum((y - mean) * tf.math.rsqrt(var + 1e-12)) + tf.reduce_sum(tf.matmul(scores, q))
    return tape.gradient(loss, [x, w1, w2, q])
block(tf.ones([1024, 768]), tf.ones([768, 3072]), tf.ones([3072]), tf.ones([3072, 768]),
      tf.ones([8, 12, 128, 64]))
"""


PROBES = """
import os, sys, numpy as np, bert_tf, tensorflow as tf
from bert_tf.modeling import gelu  # the runner's own (Google's tanh form)
rng = np.random.default_rng(0)
def r(*shape, scale=1.0):
    return tf.constant((rng.standard_normal(shape) * scale).astype(np.float32))
q, k, v, x, r768 = r(8, 12, 128, 64), r(8, 12, 128, 64), r(8, 12, 128, 64), r(1024, 768), r(1024, 768)
w1, b1, w2 = r(768, 3072, scale=0.02), r(3072), r(3072, 768, scale=0.02)
mask = tf.constant(np.where(rng.random([8, 1, 1, 128]) < 0.3, -10000.0, 0.0).astype(np.float32))
scores = lambda: tf.matmul(q, k, transpose_b=True) * 0.125 + mask
def block_gradients():
    with tf.GradientTape() as tape:
        tape.watch([x, w1, w2, q, k, v])
        y = tf.matmul(gelu(tf.matmul(x, w1) + b1), w2) + x
        mean, var = tf.nn.moments(y, [-1], keepdims=True)
        context = tf.matmul(tf.nn.softmax(scores()), v)
        loss = tf.reduce_sum((y - mean) * tf.math.rsqrt(var + 1e-12) * r768) + tf.reduce_sum(context * q)
    return tape.gradient(loss, [x, w1, w2, q, k, v])
probes = {
    "attention scores + mask": scores,
    "attention probabilities": lambda: tf.nn.softmax(scores()),
    "dense + bias + residual": lambda: tf.matmul(x, w1[:, :768]) + b1[:768] + r768,
    "dense + bias, GELU": lambda: gelu(tf.matmul(x, w1) + b1),
    "GELU into a dense": lambda: tf.matmul(gelu(x), w1),
    "two chained dots": lambda: tf.matmul(tf.matmul(x, w1), w2),
    "block gradients": block_gradients,
}
for i, (name, probe) in list(enumerate(probes.items()))[int(sys.argv[2]):]:
    out = tf.function(probe, jit_compile=True)()
    np.savez(os.path.join(sys.argv[1], f"{i}.npz"), *[t.numpy() for t in (out if isinstance(out, list) else [out])])
"""
PROBE_NAMES = re.findall(r'^    "([^"]+)": ', PROBES, re.M)
# Largest |difference| / (|value| + the tensor's root mean square), per output tensor: float32
# sums in another order stay near 1e-6; a wrong result is of order 1.
AGREE = 1e-4


def probe_outputs(flags):
    """({probe index: its output tensors}, {probe index: why it failed, in one line}) under
    `flags`: the probes compiled and run one after another in a fresh process, and again in a
    new one from the probe after one that kills it (or hangs)."""
    got, failed, start = {}, {}, 0
    with tempfile.TemporaryDirectory() as out:
        env = dict(os.environ, XLA_FLAGS=flags, TF_CPP_MIN_LOG_LEVEL="2")
        while start < len(PROBE_NAMES):
            try:
                run = subprocess.run([sys.executable, "-c", PROBES, out, str(start)], env=env, capture_output=True,
                                     text=True, errors="replace", cwd=ROOT, timeout=COMPILE_TIMEOUT_S)
                error = failure(run) if run.returncode else None
            except subprocess.TimeoutExpired:
                error = f"no result within {COMPILE_TIMEOUT_S} s"
            while start < len(PROBE_NAMES):
                try:
                    with np.load(os.path.join(out, f"{start}.npz")) as saved:
                        got[start] = [saved[f"arr_{j}"] for j in range(len(saved.files))]
                except (OSError, ValueError):  # not written, or cut short
                    break
                start += 1
            if error is None and start < len(PROBE_NAMES):
                error = "exited without writing its result"  # never count a missing probe as agreeing
            if error is None:
                break
            if start < len(PROBE_NAMES):
                failed[start] = error
                start += 1
    return got, failed


def disagreement(got, want):
    """The largest |difference| / (|value| + rms of the tensor) over a probe's output tensors."""
    worst = 0.0
    for a, b in zip(got, want):
        b = b.astype("float64")
        scale = np.abs(b) + np.sqrt(np.mean(b * b)) + 1e-30
        worst = max(worst, float(np.max(np.abs(a.astype("float64") - b) / scale)))
    return worst


def outputs_verdict(flags, default):
    """'agree', or which probes differ (and by how much) or fail."""
    got, failed = probe_outputs(flags)
    found = [(i, error) for i, error in failed.items()]
    found += [(i, f"differs by up to {d:.2g} x its scale") for i, want in default.items()
              if i in got and not (d := disagreement(got[i], want)) <= AGREE]
    return "; ".join(f"{PROBE_NAMES[i]}: {what}" for i, what in sorted(found)) or (
        f"agree (all {len(default)} probes within {AGREE:g})")


def optimized_hlo(flags):
    """(the block's optimized HLO text under `flags`, metadata and module name removed, None)
    or (None, why it failed, in one line)."""
    with tempfile.TemporaryDirectory() as dump:
        env = dict(os.environ, XLA_FLAGS=f"{flags} --xla_dump_to={dump} --xla_dump_hlo_as_text".strip(),
                   TF_CPP_MIN_LOG_LEVEL="2")
        try:
            run = subprocess.run([sys.executable, "-c", BLOCK], env=env, capture_output=True, text=True,
                                 errors="replace", cwd=ROOT, timeout=COMPILE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return None, f"no result within {COMPILE_TIMEOUT_S} s"
        if run.returncode:
            return None, failure(run)
        files = glob.glob(os.path.join(dump, "*cpu_after_optimizations.txt"))
        if len(files) != 1:
            return None, f"expected one optimized module, found {len(files)}"
        text = open(files[0]).read()
    text = re.sub(r", metadata=\{[^}]*\}", "", text)
    text = re.sub(r"/\*.*?\*/", "", text)  # XLA's /*index=5*/ markers in long tuples and operand lists
    return re.sub(r"^HloModule .*$", "", text, flags=re.M), None


def failure(run):
    """One line saying why the compiling process failed: how it ended (an exit status, or the
    signal that killed it) and the last line of its stderr, or of those that name an error
    when it exited by itself."""
    lines = run.stderr.strip().splitlines() or ["no message"]
    if run.returncode < 0:
        how, cause = f"killed by {signal.Signals(-run.returncode).name}", lines[-1]
    else:
        errors = [line for line in lines if re.search(r"^F\d{4}|Check failed|Error|Unknown flag", line)]
        how, cause = f"exit {run.returncode}", (errors or lines)[-1]
    return f"{how}: {cause.strip()}".replace("|", "/")


def computations(hlo):
    """{computation name: its body} of an HLO module's text (the entry's included)."""
    bodies = dict(re.findall(r"^(?:ENTRY )?%(\S+) \(.*?\n(.*?)^}", hlo, re.M | re.S))
    if not re.search(r"^ENTRY ", hlo, re.M):
        raise SystemExit("the optimized HLO dump has no ENTRY computation: not the text form expected")
    if not bodies:
        raise SystemExit("no computation could be read from the optimized HLO dump")
    return bodies


def called_by(name, bodies):
    """`name` and every computation it calls, transitively: fusions, reducers, loop conditions
    and bodies, branches (`calls=`, `to_apply=`, `condition=`, `body=`, and the `{%a, %b}` lists
    of `calls=`, `called_computations=`, `branch_computations=`)."""
    seen, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            for ref in re.findall(CALL_REFERENCE, bodies.get(current, "")):
                todo += re.findall(r"%([^,\s}]+)", ref)
    return seen


def opcodes(body):
    """Counter of the HLO ops in a computation's body (tuple-shaped results included, once the
    /*index=N*/ markers are gone: `optimized_hlo` removes them)."""
    return Counter(re.findall(r"^\s*(?:ROOT )?%\S+ = (?:\([^=]*?\)|\S+) ([a-z][a-z-]*)\(", body, re.M))


def summary(hlo):
    """'11 dots by XLA; 5 x __ynn_fusion [reduce x1]; custom calls: none': the dots XLA
    emits itself, and the dots and reductions each library fusion (YNNPACK, XNNPACK, oneDNN)
    took over."""
    bodies = computations(hlo)
    library = re.findall(r'calls=%([^,\s]+).*"kind":"(__[a-z_]+)"', hlo)
    taken, library_names = Counter(), set()
    for called, kind in library:
        names = called_by(called, bodies)
        library_names |= names
        ops = sum((opcodes(bodies.get(n, "")) for n in names), Counter())
        picked = {op: n for op, n in ops.items() if op in ("dot", "convolution", "reduce", "reduce-window")}
        taken[f"{kind} [{', '.join(f'{op} x{n}' for op, n in sorted(picked.items())) or 'element-wise'}]"] += 1
    own_dots = sum(opcodes(body)["dot"] for name, body in bodies.items() if name not in library_names)
    calls = re.findall(r'custom_call_target="([^"]+)"', hlo)
    fusions = "; ".join(f"{n} x {what}" for what, n in sorted(taken.items())) or "no library fusion"
    return (f"{own_dots} dots by XLA; {fusions}; "
            f"custom calls: {', '.join(sorted(set(calls))) or 'none'}")


def differing_lines(hlo, default):
    """How many lines the two HLO texts do not share (each counted where it appears)."""
    return len(set(hlo.splitlines()) ^ set(default.splitlines()))


def main(flag_sets):
    default, error = optimized_hlo("")
    if error:
        raise SystemExit(f"the block does not compile without flags: {error}")
    if optimized_hlo("")[0] != default:
        raise SystemExit("two compilations without flags gave different HLO: a comparison would mean nothing")
    reference, failed = probe_outputs("")
    if failed:
        raise SystemExit("the probes do not run without flags: "
                         + "; ".join(f"{PROBE_NAMES[i]}: {error}" for i, error in failed.items()))
    print(f"| XLA_FLAGS | optimized HLO | outputs against none |\n| --- | --- | --- |\n"
          f"| none | {summary(default)} | |")
    for flags in flag_sets:
        hlo, error = optimized_hlo(flags)
        verdict = (f"fails: {error}" if error else "the same as none" if hlo == default
                   else f"changed ({differing_lines(hlo, default)} lines differ): {summary(hlo)}")
        # XLA refuses a flag it does not know before compiling anything: every probe would fail alike
        outputs = ("not run (XLA does not know a flag)" if error and "Unknown flag" in error
                   else outputs_verdict(flags, reference))
        print(f"| `{flags}` | {verdict} | {outputs.replace('|', '/')} |", flush=True)


def flag_sets_from(argv):
    """The command line's flag sets; help printed, or one line and exit 2 for an argument
    that is not a set of `--flag[=value]` (a typo would otherwise cost a compilation and
    come back as XLA's own refusal in the table)."""
    if any(arg in ("-h", "--help") for arg in argv):
        print(__doc__)
        sys.exit(0)
    for arg in argv:
        if not arg.split() or any(not token.startswith("--") for token in arg.split()):
            print(f"xla_flags_effect.py: {arg!r} is not a set of XLA flags: give each set as one argument "
                  f"of space-separated --flag[=value] (e.g. \"--xla_cpu_use_onednn=true\")", file=sys.stderr)
            sys.exit(2)
    return argv or STUDIED


if __name__ == "__main__":
    main(flag_sets_from(sys.argv[1:]))
