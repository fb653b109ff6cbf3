"""Learning-rate schedule and optimizers as Google's and NVIDIA's BERT define them.

- `learning_rate(step)`: linear warmup to `init_lr` over `num_warmup_steps`, polynomial decay
  over `num_train_steps` (counted from step 0, as Google does) to `end_learning_rate`.
- `AdamWeightDecay`: Google's optimizer: Adam without bias correction (by default), weight
  decay added to the update (not the loss), not applied to LayerNorm and bias variables.
- `Lamb`: NVIDIA's LAMB: Adam with bias correction, weight decay, and a layer-wise trust
  ratio ||w|| / ||update||, with the same exclusions.

Variables are named by their Google TF1 names (`model.tf1_weights()`), which is what the
exclusion patterns match. The Adam moments of all variables live in two flat `tf.Variable`s
(`adam_m`, `adam_v`), saved with checkpoints; the gradients arrive flattened the same way.
"""

import dataclasses
import re

import tensorflow as tf

from bert_tf.errors import UserError

EXCLUDE_FROM_WEIGHT_DECAY = ("LayerNorm", "layer_norm", "bias")


@dataclasses.dataclass
class OptimizerConfig:
    optimizer_type: str = "adamw"  # "adamw" or "lamb"
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
    clip_norm: float = 1.0  # <= 0: no clipping

    def validate(self):
        if self.optimizer_type not in ("adamw", "lamb"):
            raise UserError(f"--optimizer_type={self.optimizer_type}: use adamw or lamb")
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


class _Optimizer(tf.Module):
    """Adam moments over one flat buffer; `apply(flat_grad, lr, step)` updates in place.

    Why one buffer ("multi-tensor", as NVIDIA's fused Adam and LAMB): with a slot pair per
    weight, the moment updates of a small model's step are hundreds of tiny kernels whose
    launch cost outweighs their arithmetic; over one buffer they are one fused pass whatever
    the number of weights (a micro model's compiled step: 513 HLO instructions -> 274). Only
    the final per-weight step (decay, LAMB's trust ratio) stays per variable. The buffer
    holds the variables in the order of `names`, each flattened row-major.
    """

    default_bias_correction = False

    def __init__(self, named_variables, config: OptimizerConfig, name):
        super().__init__(name=name)
        self.config = config
        self.names = list(named_variables)
        self.variables_ = [named_variables[n] for n in self.names]
        wrong = [n for n, v in zip(self.names, self.variables_) if v.dtype != tf.float32]
        if wrong:
            raise ValueError(f"the optimizer keeps float32 weights; these are not: {wrong[:3]}")
        self.sizes = [int(v.shape.num_elements()) for v in self.variables_]
        total = sum(self.sizes)
        self.m = tf.Variable(tf.zeros([total], tf.float32), trainable=False, name="adam_m")
        self.v = tf.Variable(tf.zeros([total], tf.float32), trainable=False, name="adam_v")
        self.decay = [_uses(n, EXCLUDE_FROM_WEIGHT_DECAY) for n in self.names]
        bias_correction = config.bias_correction
        self.bias_correction = self.default_bias_correction if bias_correction is None else bias_correction

    def apply(self, flat_grad, lr, step):
        """flat_grad: `flatten(grads)` of gradients aligned with `names`."""
        c = self.config
        m = self.m.assign(c.beta_1 * self.m + (1.0 - c.beta_1) * flat_grad)
        v = self.v.assign(c.beta_2 * self.v + (1.0 - c.beta_2) * tf.square(flat_grad))
        if self.bias_correction:
            t = tf.cast(step, tf.float32) + 1.0
            m = m / (1.0 - c.beta_1 ** t)
            v = v / (1.0 - c.beta_2 ** t)
        adam = tf.split(m / (tf.sqrt(v) + c.epsilon), self.sizes)
        for i, (variable, piece) in enumerate(zip(self.variables_, adam)):
            update = tf.reshape(piece, variable.shape)
            if self.decay[i]:
                update += c.weight_decay_rate * variable
            variable.assign_sub(lr * self._ratio(i, update) * update)

    def _ratio(self, i, update):
        return 1.0


class AdamWeightDecay(_Optimizer):
    """Google's AdamWeightDecayOptimizer (BERT's optimizer)."""

    def __init__(self, named_variables, config):
        super().__init__(named_variables, config, "adam_weight_decay")


class Lamb(_Optimizer):
    """NVIDIA's LAMB: bias-corrected Adam update scaled by the trust ratio ||w|| / ||u||."""

    default_bias_correction = True

    def __init__(self, named_variables, config):
        super().__init__(named_variables, config, "lamb")

    def _ratio(self, i, update):
        if not self.decay[i]:  # NVIDIA excludes the same variables from layer adaptation
            return 1.0
        w_norm = tf.norm(self.variables_[i])
        u_norm = tf.norm(update)
        return tf.where(w_norm > 0, tf.where(u_norm > 0, w_norm / u_norm, 1.0), 1.0)


def create_optimizer(named_variables, config: OptimizerConfig):
    config.validate()
    cls = AdamWeightDecay if config.optimizer_type == "adamw" else Lamb
    return cls(named_variables, config)


def flatten(grads):
    """Per-variable gradients (all present: zeros where a loss does not reach) -> one
    float32 vector, the form the optimizer, clipping and the gradient reduction work on."""
    return tf.concat([tf.reshape(tf.cast(g, tf.float32), [-1]) for g in grads], 0)


def clip_by_global_norm(flat_grad, clip_norm):
    """Google's clipping (norm 1.0) of a flat gradient; returns (gradient, norm).

    As `tf.clip_by_global_norm`: scaled by clip_norm / max(norm, clip_norm), so a
    non-finite norm gives a non-finite gradient (the runner skips such steps).
    """
    norm = tf.norm(flat_grad)
    if clip_norm <= 0:
        return flat_grad, norm
    return flat_grad * (clip_norm / tf.maximum(norm, clip_norm)), norm
