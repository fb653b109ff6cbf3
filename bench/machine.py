"""One line naming the CPU a figure was measured on, for the head of a bench's output.

Why: this workplace's machines are not all alike (AMD Zen 3 with AVX2 on most days, an Intel
Xeon with AVX-512 on others), and "% of the matmul peak" means different things on the two:
oneDNN uses AVX-512 where XLA's own dot does not reach it. `platform.processor()` says only
"x86_64" on Linux, so the model name and the widest vector extension come from /proc/cpuinfo.
"""

import os
import platform

VECTOR_EXTENSIONS = (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"), ("sse4_2", "SSE4.2"))


def cpuinfo_fields(path="/proc/cpuinfo"):
    """{field: value} of the first processor in `path` ({} where there is no such file)."""
    fields = {}
    try:
        with open(path) as f:
            for line in f:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def describe(path="/proc/cpuinfo"):
    """'<CPU model>, <n> cores, <widest vector extension>', e.g.
    'Intel(R) Xeon(R) Processor @ 2.80GHz, 2 cores, AVX-512'."""
    fields = cpuinfo_fields(path)
    flags = set(fields.get("flags", "").split())
    vector = next((name for flag, name in VECTOR_EXTENSIONS if flag in flags), "vector extensions unknown")
    model = fields.get("model name") or platform.processor() or platform.machine()
    return f"{model}, {os.cpu_count()} cores, {vector}"
