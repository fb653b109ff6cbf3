"""THOR: the Kronecker-factored natural-gradient optimizer of MindSpore's BERT-THOR.

Chen et al., "THOR, Trace-based Hardware-driven Layer-Oriented Natural Gradient Descent
Computation" (AAAI 2021); the reference is MindSpore's open-source `nn/optim/thor.py` with
`nn/layer/thor_layer.py`, on its Ascend path where the GPU path differs (below).

Per dense layer, from its input rows X [N, in] and the gradient dZ of the per-replica mean
loss at its pre-bias output (N = batch x positions, B = the per-replica batch):

    A = XᵀX / N          G = (B·dZ)ᵀ(B·dZ) / N         (the loss scale divided out of dZ)

Embedding tables: A = diag(token counts / B) (every looked-up id, padding included), G as a
dense layer's from the gradient of the lookup's output rows; the tied MLM decoder has no
factor of its own, its gradient joins the word table's. On a factor step (global_step % frequency == 0) √λ is added
to each factor and each is inverted block-diagonally: Cholesky inverses of `split_dim`-wide
diagonal blocks, the last block smaller when `split_dim` does not divide the width. Every
step then preconditions a Keras kernel [in, out] as A⁻¹ g G⁻¹ (Google's [out, in] layout:
G⁻¹ g A⁻¹), a table as diag(A⁻¹) g G⁻¹, LayerNorm weights as g / (g²/B + √λ); biases and
other weights keep their gradient. Then L2 weight decay on the preconditioned gradient
(names without LayerNorm/bias), clipping per tensor to `clip_norm`, momentum v = μv + g,
w -= lr·v. λ follows (λ₀ - λ_end)(1 - k/T)^p + λ_end over the run's T steps; the learning
rate is the runner's polynomial schedule with THOR's power.

Where MindSpore's GPU and Ascend paths differ, this follows Ascend, whose numbers the BERT-THOR
result is: A divided by N (the GPU divides by the input width); the embedding G inverted in
blocks (the GPU path multiplies L⁻¹·L⁻¹); a layer with two outputs (NSP) gets G⁻¹ = I. All
arithmetic is float32 (Ascend applies the preconditioner in float16).

Differences from MindSpore, by design: factor steps follow the checkpointed global step, so a
resumed run matches an uninterrupted one (MindSpore takes a factor step at every relaunch);
the position table is factored per token like the word table (A = 1 on the rows in use, G
from each token's gradient), where MindSpore looks it up once per batch and broadcasts,
giving A = 1/B and G from the batch's summed gradient, which no average of micro-batches'
or workers' factors can reproduce;
with gradient accumulation the factors are the mean over the micro-batches (B = the micro-
batch), which is the whole batch's; the LayerNorm term's B is the global batch (MindSpore: the
per-device batch; the same on one device), so the update does not depend on how a batch is
split over workers and micro-batches. Several workers average their inverses on factor steps
(MindSpore's way) or, with `average="factors"`, their factors before inverting (then two
workers equal one with the doubled batch). The paper's trace-based choice of which layers to
refresh is not in MindSpore's code and is not here.

The model reports X and dZ only when asked (`bert_tf/capture.py`): the factor steps' gradient
function passes a probe; ordinary steps trace without one.
"""

import dataclasses

import tensorflow as tf

from bert_tf import capture, optimization
from bert_tf.errors import UserError

LAYER_NORM = ("LayerNorm", "layer_norm")


@dataclasses.dataclass
class ThorConfig:
    """THOR's own settings; the learning rate, its schedule's power and end value, warmup and
    weight decay are OptimizerConfig's. Defaults: BERT-THOR's BERT-Large recipe."""

    frequency: int = 100  # a factor step every `frequency` steps
    damping: float = 0.007035  # λ at step 0
    damping_end: float = 1e-6
    damping_power: float = 4.0
    split_dim: int = 128  # the diagonal blocks' width
    momentum: float = 0.9
    clip_norm: float = 1.0  # per tensor, after preconditioning and decay; <= 0: none
    average: str = "inverses"  # several workers: "inverses" (MindSpore) or "factors"
    global_batch_size: int = 1  # B of the LayerNorm term

    def validate(self):
        if self.frequency < 2:
            raise UserError(f"--thor_frequency={self.frequency} must be at least 2 (one step "
                            "computes the inverses, the next frequency-1 reuse them)")
        if not self.damping > 0:
            raise UserError(f"--thor_damping={self.damping} must be positive (its square root is "
                            "added to every factor before inversion)")
        if not self.damping_end > 0:
            raise UserError(f"--thor_damping_end={self.damping_end} must be positive")
        if self.split_dim < 1:
            raise UserError(f"--thor_split_dim={self.split_dim} must be at least 1 (the width of "
                            "the diagonal blocks that are inverted)")
        if not 0 <= self.momentum < 1:
            raise UserError(f"--momentum={self.momentum} must be in [0, 1)")
        if self.average not in ("inverses", "factors"):
            raise UserError(f"--thor_average={self.average}: use inverses or factors")
        if self.global_batch_size < 1:
            raise ValueError(f"ThorConfig.global_batch_size={self.global_batch_size} must be >= 1")
        return self


def schedule(step, start, end, power, total_steps):
    """(start - end)·(1 - k/T)^power + end at step k, k clamped to T: BERT-THOR's generators
    (`_get_poly_lr` with no warmup) as a function of the step."""
    fraction = tf.minimum(tf.cast(step, tf.float32), float(total_steps)) / float(total_steps)
    return (start - end) * (1.0 - fraction) ** power + end


# ---------------------------------------------------------------------- block-diagonal algebra
def block_shape(width, split_dim):
    """(blocks, block width) of a factor of `width`: one block when it fits in split_dim."""
    size = min(split_dim, width)
    return -(-width // size), size


def _pad_to(x, axis, length):
    pad = length - x.shape[axis]
    if pad == 0:
        return x
    paddings = [[0, 0]] * len(x.shape)
    paddings[axis] = [0, pad]
    return tf.pad(x, paddings)


def block_gram(x, split_dim):
    """The diagonal blocks of xᵀx for x [N, d]: [blocks, s, s]. The last block covers the
    remainder; its padding rows/columns are zero (decoupled from the real part)."""
    blocks, size = block_shape(x.shape[-1], split_dim)
    x = tf.reshape(_pad_to(x, 1, blocks * size), [-1, blocks, size])
    return tf.einsum("nbi,nbj->bij", x, x)


def block_inverse(blocks, shift):
    """(block + shift·I)⁻¹ for each block, by Cholesky. The zero padding of a remainder block
    becomes shift·I, inverted apart from the real corner, which is what MindSpore's identity
    padding gives too."""
    eye = tf.eye(blocks.shape[-1], batch_shape=[blocks.shape[0]])
    chol = tf.linalg.cholesky(blocks + shift * eye)
    return tf.linalg.cholesky_solve(chol, eye)


def left_blocks(inverse, g):
    """blockdiag(inverse) @ g for g [d, C]."""
    blocks, size = inverse.shape[0], inverse.shape[-1]
    d = g.shape[0]
    g = tf.reshape(_pad_to(g, 0, blocks * size), [blocks, size, -1])
    return tf.reshape(tf.einsum("bij,bjc->bic", inverse, g), [blocks * size, -1])[:d]


def right_blocks(g, inverse):
    """g @ blockdiag(inverse) for g [R, d]."""
    blocks, size = inverse.shape[0], inverse.shape[-1]
    d = g.shape[1]
    g = tf.reshape(_pad_to(g, 1, blocks * size), [-1, blocks, size])
    return tf.reshape(tf.einsum("rbi,bij->rbj", g, inverse), [-1, blocks * size])[:, :d]


# ---------------------------------------------------------------------- which weights
@dataclasses.dataclass
class Layer:
    """A weight THOR preconditions with two factors.

    dense: a kernel, `inputs` x `outputs` (Keras [in, out], or [out, in] when `transposed`,
    Google's `output_weights`); embedding: a table of `inputs` rows (A is their counts) and
    `outputs` columns. `has_g`: False for a two-output dense layer (NSP), as on Ascend."""

    name: str
    index: int
    kind: str
    inputs: int
    outputs: int
    transposed: bool = False

    @property
    def has_g(self):
        return not (self.kind == "dense" and self.outputs == 2)


def find_layers(names, variables):
    """THOR's weights by their Google names: dense kernels (`.../kernel`, `output_weights`) and
    embedding tables (`..._embeddings`), all two-dimensional."""
    layers = []
    for i, (name, variable) in enumerate(zip(names, variables)):
        shape = variable.shape
        if len(shape) != 2:
            continue
        if name.endswith("/kernel"):
            layers.append(Layer(name, i, "dense", shape[0], shape[1]))
        elif name.endswith("output_weights"):
            layers.append(Layer(name, i, "dense", shape[1], shape[0], transposed=True))
        elif name.endswith("_embeddings"):
            layers.append(Layer(name, i, "embedding", shape[0], shape[1]))
    return layers


def _batch_size(features):
    """The per-replica batch: every feature's leading dimension."""
    return tf.shape(tf.nest.flatten(features)[0])[0]


def _zeros(shape):
    return tf.Variable(tf.zeros(shape, tf.float32), trainable=False)


# ---------------------------------------------------------------------- the optimizer
class Thor(optimization.Optimizer):
    """THOR over Google-named variables; the Estimator drives it through the `Optimizer`
    hooks: `gradient_fn` (factor steps record the factors, summed over micro-batches),
    `prepare_step` (factor steps invert them, the strategy averaging), `state_finite`, `apply`.

    State, all in checkpoints: momentum per weight, the last factors, the inverses, and the
    count of micro-batches whose factors are summed (zero between steps)."""

    module_name = "thor"
    checkpoint_marker = "optimizer/momentum/"

    def __init__(self, named_variables, config: optimization.OptimizerConfig,
                 pack_limit=optimization.PACK_LIMIT):
        super().__init__(named_variables, config, pack_limit)
        self.thor = config.thor
        self.layers = find_layers(self.names, self.variables_)
        if not self.layers:
            raise UserError("--optimizer_type=thor: the model has no layer THOR can precondition "
                            "(dense kernels named '.../kernel' or 'output_weights', embedding "
                            "tables '..._embeddings'); use adamw or lamb for this model")
        self.by_index = {layer.index: layer for layer in self.layers}
        self.layer_norm = [any(p in n for p in LAYER_NORM) for n in self.names]
        self.momentum = {n: _zeros(v.shape) for n, v in zip(self.names, self.variables_)}
        self.a_factors = {layer.name: _zeros(self._a_shape(layer)) for layer in self.layers}
        self.g_factors = {layer.name: _zeros(self._g_shape(layer)) for layer in self.layers if layer.has_g}
        self.a_inverses = {n: _zeros(v.shape) for n, v in self.a_factors.items()}
        self.g_inverses = {n: _zeros(v.shape) for n, v in self.g_factors.items()}
        self.factor_batches = tf.Variable(0.0, trainable=False)
        self.inverses_finite = tf.Variable(True, trainable=False)

    def _a_shape(self, layer):
        if layer.kind == "embedding":
            return [layer.inputs]
        blocks, size = block_shape(layer.inputs, self.thor.split_dim)
        return [blocks, size, size]

    def _g_shape(self, layer):
        blocks, size = block_shape(layer.outputs, self.thor.split_dim)
        return [blocks, size, size]

    def _factor_variables(self):
        return list(self.a_factors.values()) + list(self.g_factors.values())

    def _inverse_variables(self):
        return list(self.a_inverses.values()) + list(self.g_inverses.values())

    def slots(self):
        return (list(self.momentum.values()) + self._factor_variables() + self._inverse_variables()
                + [self.factor_batches])

    # ------------------------------------------------------------------ schedules
    def is_factor_step(self, step):
        return tf.equal(tf.math.floormod(step, self.thor.frequency), 0)

    def damping(self, step):
        t = self.thor
        return schedule(step, t.damping, t.damping_end, t.damping_power, self.config.num_train_steps)

    # ------------------------------------------------------------------ factor steps
    def gradient_fn(self, grads, step):
        """On factor steps the gradients come with a probe, and the batch's factors are added
        to the factor variables; on the others `grads` runs as AdamW's would."""

        def thor_grads(features, loss_scale):
            def with_factors():
                probe = capture.Probe()
                out = grads(features, loss_scale, probe)
                self._add_factors(self.factors(probe, _batch_size(features)))
                return out

            return tf.cond(self.is_factor_step(step), with_factors, lambda: grads(features, loss_scale))
        return thor_grads

    def factors(self, probe, batch):
        """{layer name: (A, G or None)} of one traced batch (see the module docstring)."""
        b = tf.cast(batch, tf.float32)
        layers = {id(self.variables_[layer.index]): layer for layer in self.layers}
        found = {}
        for record in probe.dense:
            x = tf.cast(tf.reshape(record.inputs, [-1, record.inputs.shape[-1]]), tf.float32)
            rows = tf.cast(tf.shape(x)[0], tf.float32)
            dz = self._output_gradient(probe, record.output)
            dz = tf.reshape(dz, [-1, len(record.kernels), dz.shape[-1] // len(record.kernels)])
            a = None
            for j, kernel in enumerate(record.kernels):
                layer = layers.get(id(kernel))
                if layer is None:
                    continue
                a = block_gram(x, self.thor.split_dim) / rows if a is None else a
                g = b * b * block_gram(dz[:, j], self.thor.split_dim) / rows if layer.has_g else None
                found[layer.name] = (a, g)
        grams = {}  # the lookups of one output share their G
        for record in probe.embeddings:
            layer = layers.get(id(record.table))
            if layer is None:
                continue
            dz = self._output_gradient(probe, record.output)
            rows = tf.shape(dz)[0]
            if record.ids is None:  # positions: rows 0..T-1 once per sequence
                counts = b * tf.cast(tf.range(layer.inputs) < rows // batch, tf.float32)
            else:
                ids = tf.reshape(record.ids, [-1])
                counts = tf.math.unsorted_segment_sum(tf.ones_like(ids, tf.float32), ids, layer.inputs)
            if record.output not in grams:
                grams[record.output] = b * b * block_gram(dz, self.thor.split_dim) / tf.cast(rows, tf.float32)
            found[layer.name] = (counts / b, grams[record.output])
        missing = [layer.name for layer in self.layers if layer.name not in found]
        if missing:
            raise UserError(f"--optimizer_type=thor: {missing[0]} (and {len(missing) - 1} more) did "
                            "not report its input and output gradient (bert_tf/capture.py), so THOR "
                            "cannot precondition it; use adamw or lamb for this model")
        return found

    @staticmethod
    def _output_gradient(probe, index):
        g = probe.output_gradients[index]
        output = probe.outputs[index]
        g = tf.zeros(tf.shape(output), tf.float32) if g is None else g
        return tf.reshape(g, [-1, output.shape[-1]])

    def _add_factors(self, found):
        """Sum the batch's factors into the factor variables (the first micro-batch of a step
        replaces what the last factor step left there)."""
        first = tf.equal(self.factor_batches, 0.0)
        for layer in self.layers:
            a, g = found[layer.name]
            pairs = [(self.a_factors[layer.name], a)]
            if layer.has_g:
                pairs.append((self.g_factors[layer.name], g))
            for variable, value in pairs:
                variable.assign(tf.where(first, value, variable + value))
        self.factor_batches.assign_add(1.0)

    def prepare_step(self, strategy, step):
        """On factor steps: the mean factors over the micro-batches, averaged over workers
        (`average="factors"`) or not, damped and inverted, the inverses averaged over workers
        (`average="inverses"`), then stored if finite (`state_finite` refuses the step if not)."""

        def refresh():
            factors = [v / self.factor_batches for v in self._factor_variables()]
            if self.thor.average == "factors":
                factors = strategy.reduce_mean(factors)
            shift = tf.sqrt(self.damping(step))
            inverses = [1.0 / (f + shift) if len(f.shape) == 1 else block_inverse(f, shift)
                        for f in factors]
            if self.thor.average == "inverses":
                inverses = strategy.reduce_mean(inverses)
            finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(i)) for i in inverses])
            for variable, value in zip(self._inverse_variables(), inverses):
                variable.assign(tf.where(finite, value, variable))
            for variable, value in zip(self._factor_variables(), factors):
                variable.assign(value)
            self.factor_batches.assign(0.0)
            self.inverses_finite.assign(finite)
            return tf.constant(0)

        tf.cond(self.is_factor_step(step), refresh, lambda: tf.constant(0))

    def state_finite(self):
        return tf.identity(self.inverses_finite)

    # ------------------------------------------------------------------ every step
    def precondition(self, layer, g):
        """A⁻¹ g G⁻¹ in the layer's layout (module docstring), from the stored inverses."""
        a_inverse = self.a_inverses[layer.name]
        g_inverse = self.g_inverses.get(layer.name)
        if layer.kind == "embedding":
            return right_blocks(a_inverse[:, None] * g, g_inverse)
        g = tf.transpose(g) if layer.transposed else g
        g = left_blocks(a_inverse, g)
        g = right_blocks(g, g_inverse) if g_inverse is not None else g
        return tf.transpose(g) if layer.transposed else g

    def apply(self, grads, lr, step, finite=None):
        """grads: `pack()`ed; precondition, decay, clip, momentum, update in place. A step that
        is not `finite` changes nothing (momentum and weights keep their values)."""
        t, wd = self.thor, self.config.weight_decay_rate
        keep = (lambda new, old: new) if finite is None else (lambda new, old: tf.where(finite, new, old))
        shift = tf.sqrt(self.damping(step))
        for i, (name, variable, g) in enumerate(zip(self.names, self.variables_, self.unpack(grads))):
            if i in self.by_index:
                g = self.precondition(self.by_index[i], g)
            elif self.layer_norm[i]:
                g = g / (g * g / float(t.global_batch_size) + shift)
            if self.decay[i] and wd:
                g += wd * variable
            if t.clip_norm > 0:
                g = tf.clip_by_norm(g, t.clip_norm)
            momentum = self.momentum[name]
            velocity = momentum.assign(keep(t.momentum * momentum + g, momentum))
            variable.assign(keep(variable - lr * velocity, variable))
