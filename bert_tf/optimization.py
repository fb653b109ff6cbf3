"""Learning-rate schedule and optimizers as Google's and NVIDIA's BERT define them.

- `learning_rate(step)`: linear warmup to `init_lr` over `num_warmup_steps`, polynomial decay
  over `num_train_steps` (counted from step 0, as Google does) to `end_learning_rate`.
- `AdamWeightDecay`: Google's optimizer: Adam without bias correction (by default), weight
  decay added to the update (not the loss), not applied to LayerNorm and bias variables.
- `Lamb`: NVIDIA's LAMB: Adam with bias correction, weight decay, and a layer-wise trust
  ratio ||w|| / ||update||, with the same exclusions.
- THOR (MindSpore's second-order optimizer of BERT-THOR) lives in `bert_tf/thor.py`, on the
  same `Optimizer` base: `create_optimizer` picks it for `optimizer_type="thor"`.

Variables are named by their Google TF1 names (`model.tf1_weights()`), which is what the
exclusion patterns match. The Adam moments are `tf.Variable`s saved with checkpoints: one
flat pair for all small variables, one pair per large variable (see `_Optimizer`).
"""

import dataclasses
import re

import tensorflow as tf

from bert_tf.errors import UserError

EXCLUDE_FROM_WEIGHT_DECAY = ("LayerNorm", "layer_norm", "bias")


@dataclasses.dataclass
class OptimizerConfig:
    optimizer_type: str = "adamw"  # "adamw", "lamb" or "thor"
    learning_rate: float = 5e-5
    num_train_steps: int = 1000
    num_warmup_steps: int = 0
    end_learning_rate: float = 0.0
    decay_power: float = 1.0
    weight_decay_rate: float = 0.01
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-6
    bias_correction: bool = None  # None: the optimizer's own default (AdamW off, LAMB on)
    clip_norm: float = 1.0  # <= 0: no clipping (of the raw gradients' global norm)
    thor: object = None  # thor.ThorConfig when optimizer_type == "thor"

    def validate(self):
        if self.optimizer_type not in ("adamw", "lamb", "thor"):
            raise UserError(f"--optimizer_type={self.optimizer_type}: use adamw, lamb or thor")
        if self.optimizer_type == "thor":
            if self.thor is None:
                raise ValueError("optimizer_type='thor' needs OptimizerConfig.thor (a thor.ThorConfig)")
            self.thor.validate()
        if self.learning_rate <= 0:
            raise UserError(f"--learning_rate={self.learning_rate} must be positive")
        if self.num_train_steps < 1:
            raise UserError(f"--num_train_steps={self.num_train_steps} must be at least 1")
        if self.num_warmup_steps < 0:
            raise UserError(f"--num_warmup_steps={self.num_warmup_steps} must not be negative")
        return self


def learning_rate(step, config: OptimizerConfig):
    """Google's schedule at `step` (a scalar tensor or number) -> float32 tensor."""
    step = tf.cast(step, tf.float32)
    decay_steps = float(config.num_train_steps)
    fraction = tf.minimum(step, decay_steps) / decay_steps
    decayed = ((config.learning_rate - config.end_learning_rate)
               * (1.0 - fraction) ** config.decay_power + config.end_learning_rate)
    if config.num_warmup_steps <= 0:
        return decayed
    warmup = config.learning_rate * step / float(config.num_warmup_steps)
    return tf.where(step < config.num_warmup_steps, warmup, decayed)


def _uses(name, patterns):
    return not any(re.search(p, name) for p in patterns)


PACK_LIMIT = 1 << 16  # variables of at most this many elements share one buffer


def _zeros(shape):
    return tf.Variable(tf.zeros(shape, tf.float32), trainable=False)


class Optimizer(tf.Module):
    """What the Estimator needs of an optimizer: the packed gradient layout, `apply`, and the
    hooks it calls around a step, which do nothing here (THOR's are in bert_tf/thor.py).

    Gradients travel as `pack(grads)`: see `_Optimizer` for why. The hooks, in step order:
    `gradient_fn` wraps the Estimator's gradient function (THOR: records factors on its
    factor steps), `prepare_step` runs between the reduced gradients and the update (THOR:
    inverts the factors, with the strategy averaging them or the inverses), `state_finite`
    says whether the optimizer's state allows the step, `apply(grads, lr, step, finite)`
    updates the weights (gated: a step that is not `finite` changes nothing).
    """

    checkpoint_marker = "optimizer/packed_m/"  # a name only this kind's checkpoints hold

    def __init__(self, named_variables, config: OptimizerConfig, pack_limit=PACK_LIMIT):
        super().__init__(name=self.module_name)
        self.config = config
        self.names = list(named_variables)
        self.variables_ = [named_variables[n] for n in self.names]
        wrong = [n for n, v in zip(self.names, self.variables_) if v.dtype != tf.float32]
        if wrong:
            raise ValueError(f"the optimizer keeps float32 weights; these are not: {wrong[:3]}")
        sizes = [int(v.shape.num_elements()) for v in self.variables_]
        self.packed = [i for i, size in enumerate(sizes) if size <= pack_limit]
        self.separate = [i for i, size in enumerate(sizes) if size > pack_limit]
        self.packed_sizes = [sizes[i] for i in self.packed]
        self.gradient_shapes = ([tf.TensorShape([sum(self.packed_sizes)])]
                                + [self.variables_[i].shape for i in self.separate])
        self.decay = [_uses(n, EXCLUDE_FROM_WEIGHT_DECAY) for n in self.names]

    def pack(self, grads):
        """Gradients aligned with `names` (all present: zeros where a loss does not reach) ->
        [one float32 buffer of the small ones] + the large ones, the form the optimizer,
        clipping, accumulation and the gradient reduction work on."""
        grads = [tf.cast(g, tf.float32) for g in grads]
        small = [tf.reshape(grads[i], [-1]) for i in self.packed]
        packed = tf.concat(small, 0) if small else tf.zeros([0], tf.float32)
        return [packed] + [grads[i] for i in self.separate]

    def unpack(self, grads):
        """`pack()`ed gradients -> one per variable, in `names` order, shaped as the variable."""
        out = dict(zip(self.packed, tf.split(grads[0], self.packed_sizes)) if self.packed else {})
        out.update(zip(self.separate, grads[1:]))
        return [tf.reshape(out[i], v.shape) for i, v in enumerate(self.variables_)]

    def gradient_fn(self, grads, step):
        """The Estimator's `grads(features, loss_scale, probe=None)`, as the step calls it."""
        return grads

    def prepare_step(self, strategy, step):
        """Work between the reduced gradients and `apply`; none for AdamW/LAMB."""
        return None  # a body beyond the docstring: AutoGraph cannot convert an empty one

    def state_finite(self):
        """Whether the optimizer's own state lets the step be applied (THOR: its inverses are
        finite), or None when it has no such condition (the step graph then has no op for it);
        the gradients' finiteness is the Estimator's check."""
        return None


class _Optimizer(Optimizer):
    """Adam with the small variables packed into one buffer; `apply(grads, lr, step, finite)`.

    Why packing ("multi-tensor", as NVIDIA's fused Adam and LAMB): with a slot pair per
    weight, the step of a model with many small weights (biases, LayerNorm, a micro model's
    everything) is hundreds of tiny kernels whose launch cost outweighs their arithmetic.
    Variables of at most PACK_LIMIT elements therefore share one flat gradient and one flat
    slot pair: one fused pass for all of them (a micro model's compiled step: 513 HLO
    instructions -> 277). Larger variables keep their own slots, since copying them into a
    buffer costs more than a launch saves (BERT-base: packing everything made the update
    1.4-1.9x slower; bench/bench_optimizer.py). Gradients travel as `pack(grads)`: [the
    packed buffer] + one per large variable; the buffer holds the small variables in
    `names` order, row-major.
    """

    default_bias_correction = False

    def __init__(self, named_variables, config: OptimizerConfig, pack_limit=PACK_LIMIT):
        super().__init__(named_variables, config, pack_limit)
        self.packed_m, *self.separate_m = [_zeros(shape) for shape in self.gradient_shapes]
        self.packed_v, *self.separate_v = [_zeros(shape) for shape in self.gradient_shapes]
        bias_correction = config.bias_correction
        self.bias_correction = self.default_bias_correction if bias_correction is None else bias_correction

    def slots(self):
        """Every slot variable (what workers must agree on besides the weights)."""
        return [self.packed_m, self.packed_v] + self.separate_m + self.separate_v

    def apply(self, grads, lr, step, finite=None):
        """grads: `pack()`ed gradients; updates the variables in place. `finite`: a boolean
        scalar; when false the step changes nothing (slots and weights keep their values)."""
        c = self.config
        keep = (lambda new, old: new) if finite is None else (lambda new, old: tf.where(finite, new, old))
        moments = zip(grads, [self.packed_m] + self.separate_m, [self.packed_v] + self.separate_v)
        adam = [self._adam(g, m, v, step, keep) for g, m, v in moments]
        updates = dict(zip(self.packed, tf.split(adam[0], self.packed_sizes)) if self.packed else {})
        updates.update(zip(self.separate, adam[1:]))
        for i, variable in enumerate(self.variables_):
            update = tf.reshape(updates[i], variable.shape)
            if self.decay[i]:
                update += c.weight_decay_rate * variable
            variable.assign(keep(variable - lr * self._ratio(i, update) * update, variable))

    def _adam(self, grad, m_slot, v_slot, step, keep):
        c = self.config
        m = keep(c.beta_1 * m_slot + (1.0 - c.beta_1) * grad, m_slot)
        v = keep(c.beta_2 * v_slot + (1.0 - c.beta_2) * tf.square(grad), v_slot)
        m_slot.assign(m)
        v_slot.assign(v)
        if self.bias_correction:
            t = tf.cast(step, tf.float32) + 1.0
            m = m / (1.0 - c.beta_1 ** t)
            v = v / (1.0 - c.beta_2 ** t)
        return m / (tf.sqrt(v) + c.epsilon)

    def _ratio(self, i, update):
        return 1.0


class AdamWeightDecay(_Optimizer):
    """Google's AdamWeightDecayOptimizer (BERT's optimizer)."""

    module_name = "adam_weight_decay"


class Lamb(_Optimizer):
    """NVIDIA's LAMB: bias-corrected Adam update scaled by the trust ratio ||w|| / ||u||."""

    default_bias_correction = True
    module_name = "lamb"

    def _ratio(self, i, update):
        if not self.decay[i]:  # NVIDIA excludes the same variables from layer adaptation
            return 1.0
        w_norm = tf.norm(self.variables_[i])
        u_norm = tf.norm(update)
        return tf.where(w_norm > 0, tf.where(u_norm > 0, w_norm / u_norm, 1.0), 1.0)


def create_optimizer(named_variables, config: OptimizerConfig, pack_limit=PACK_LIMIT):
    """pack_limit: see `_Optimizer` (bench/bench_optimizer.py compares settings)."""
    config.validate()
    if config.optimizer_type == "thor":
        from bert_tf.thor import Thor
        return Thor(named_variables, config, pack_limit)
    cls = AdamWeightDecay if config.optimizer_type == "adamw" else Lamb
    return cls(named_variables, config, pack_limit)


# Under XLA, a tensor of at least BLOCKED_NORM_MIN elements (a multiple of NORM_BLOCKS) has its
# squares summed across NORM_BLOCKS contiguous blocks before its sum (see `global_norm`)
NORM_BLOCKS = 8
BLOCKED_NORM_MIN = 1 << 16


def global_norm(tensors, compiled=False):
    """The L2 norm of all `tensors` together, as `tf.linalg.global_norm`.

    `compiled` (inside an XLA-compiled function): XLA's CPU backend turns a long sum into a tree
    of reduce-windows that runs on one thread (66 ms for BERT-base's 110 M gradients, a fifth of
    the memory bandwidth). Summing each large tensor's squares across 8 contiguous blocks first
    is one element-wise pass (vectorized, on every thread), and the sum that follows reads an
    eighth of the data: 13 ms, the same norm to float32 rounding (bench/bench_global_norm.py).
    Without XLA TensorFlow's own kernel is the faster (12-16 ms against 28-34 ms); on GPUs the
    blocked form was never measured, so it is not used there."""
    if not compiled or tf.config.list_logical_devices("GPU"):
        return tf.linalg.global_norm(tensors)
    with tf.name_scope("global_norm"):  # the name TensorFlow's has (bench_step_profile.py)
        return tf.sqrt(tf.add_n([blocked_sum_of_squares(t) for t in tensors if t is not None]))


def blocked_sum_of_squares(t, blocks=NORM_BLOCKS):
    """sum(t**2), a large tensor's squares first added across `blocks` contiguous blocks."""
    n = t.shape.num_elements()
    if n is None or n < BLOCKED_NORM_MIN or n % blocks:
        return tf.reduce_sum(tf.square(t))
    return tf.reduce_sum(tf.add_n(tf.unstack(tf.square(tf.reshape(t, [blocks, -1])))))


def clip_by_global_norm(grads, clip_norm, compiled=False):
    """Google's clipping (norm 1.0) over a list of gradients; returns (grads, norm).

    As `tf.clip_by_global_norm`: scaled by clip_norm / max(norm, clip_norm), so a
    non-finite norm gives non-finite gradients (the runner skips such steps). `compiled`:
    see `global_norm`.
    """
    norm = global_norm(grads, compiled)
    if clip_norm <= 0:
        return grads, norm
    clipped, _ = tf.clip_by_global_norm(grads, clip_norm, use_norm=norm)
    return clipped, norm
