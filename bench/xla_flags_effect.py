"""Which XLA_FLAGS change the program XLA compiles here, before anyone times them.

A flag the build ignores (a library not compiled in, a pass whose cost model declines) leaves
the optimized HLO as it was, and timing it measures the default again: two earlier flag tables
in docs/benchmarks.md did that. This compiles one BERT feed-forward block (dot, bias, GELU,
dot, residual, layer-norm moments) in a fresh process per flag set, dumps XLA's optimized HLO,
and compares it, metadata removed, with the default's: the dots left, the library fusions
(YNNPACK, XNNPACK, oneDNN) and custom calls.

  python bench/xla_flags_effect.py                      # the flags studied so far
  python bench/xla_flags_effect.py "--xla_cpu_foo=1" ...   # or your own, one set per argument
"""

import glob
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter

STUDIED = [
    "--xla_cpu_use_onednn=true",
    "--xla_cpu_experimental_onednn_fusion_type=dot",
    "--xla_cpu_experimental_onednn_fusion_type=dot,eltwise,reduce",
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
@tf.function(jit_compile=True)
def block(x, w1, b1, w2):
    h = tf.matmul(x, w1) + b1
    h = 0.5 * h * (1 + tf.tanh(0.7978845608 * (h + 0.044715 * h ** 3)))
    y = tf.matmul(h, w2) + x
    mean, var = tf.nn.moments(y, [-1], keepdims=True)
    return (y - mean) * tf.math.rsqrt(var + 1e-12)
block(tf.ones([1024, 768]), tf.ones([768, 3072]), tf.ones([3072]), tf.ones([3072, 768])).numpy()
"""


def optimized_hlo(flags):
    """The block's optimized HLO text under `flags`, metadata and module name removed."""
    with tempfile.TemporaryDirectory() as dump:
        env = dict(os.environ, XLA_FLAGS=f"{flags} --xla_dump_to={dump} --xla_dump_hlo_as_text".strip(),
                   TF_CPP_MIN_LOG_LEVEL="2")
        run = subprocess.run([sys.executable, "-c", BLOCK], env=env, capture_output=True, text=True)
        if run.returncode:
            return None, run.stderr.strip().splitlines()[-1]
        files = glob.glob(os.path.join(dump, "*cpu_after_optimizations.txt"))
        if len(files) != 1:
            return None, f"expected one optimized module, found {len(files)}"
        text = open(files[0]).read()
    text = re.sub(r", metadata=\{[^}]*\}", "", text)
    return re.sub(r"^HloModule .*$", "", text, flags=re.M), None


def computations(hlo):
    """{computation name: its body} of an HLO module's text."""
    return dict(re.findall(r"^(?:ENTRY )?%(\S+) \(.*?\n(.*?)^}", hlo, re.M | re.S))


def summary(hlo):
    """'2 dots by XLA; __ynn_fusion [reduce x1]; 0 custom calls': the dots XLA emits itself,
    and what each library fusion (YNNPACK, XNNPACK, oneDNN) took over."""
    bodies = computations(hlo)
    library = re.findall(r'calls=%([^,\s]+).*"kind":"(__[a-z_]+)"', hlo)
    taken = []
    for called, kind in library:
        ops = Counter(re.findall(r" = \S+ (dot|reduce|reduce-window)\(", bodies.get(called, "")))
        taken.append(f"{kind} [{', '.join(f'{op} x{n}' for op, n in sorted(ops.items())) or 'element-wise'}]")
    library_names = {called for called, _ in library}
    own_dots = sum(body.count(" dot(") for name, body in bodies.items() if name not in library_names)
    return (f"{own_dots} dots by XLA; {'; '.join(sorted(taken)) or 'no library fusion'}; "
            f"{hlo.count('custom-call(')} custom calls")


def main(flag_sets):
    default, error = optimized_hlo("")
    if error:
        raise SystemExit(f"the block does not compile without flags: {error}")
    print(f"| XLA_FLAGS | optimized HLO |\n| --- | --- |\n| none | {summary(default)} |")
    for flags in flag_sets:
        hlo, error = optimized_hlo(flags)
        verdict = (f"fails: {error}" if error else "the same as none" if hlo == default
                   else f"changed: {summary(hlo)}")
        print(f"| `{flags}` | {verdict} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or STUDIED)
