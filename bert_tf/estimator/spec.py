"""What a task's `model_fn` returns and the modes it is called in; no TensorFlow here, so a
task module can be imported (and its data read) before TensorFlow is."""

import dataclasses

TRAIN, EVAL, PREDICT = "train", "eval", "predict"


@dataclasses.dataclass
class EstimatorSpec:
    loss: object = None  # a scalar tensor (training)
    logs: dict = dataclasses.field(default_factory=dict)  # scalars, logged as of a loop's last step
    metrics: dict = dataclasses.field(default_factory=dict)  # name -> (total, count)
    predictions: dict = dataclasses.field(default_factory=dict)
