"""One module per task, the one home of everything about it (Model Garden's Task, in our
Estimator's terms). Every task class answers:

- `name` (its `--task` in export_savedmodel.py) and `needs_num_labels`;
- `create_model(params)`: its Keras model, built (`tf1_weights()`, `rng_states()`);
- `parse(serialized, is_training)`: its records -> the model's features;
- `model_fn(model, features, mode, params)` -> `EstimatorSpec` (loss, logs, metrics,
  predictions), for the Estimator;
- `serving_outputs(model, features)`: what its SavedModel serves.

The fine-tuning tasks (squad, classifier, ner) also carry their data and results for
`bert_tf.finetuning`: `splits` (action flag -> split), `read(run, split)`,
`prepare(run, data)`, `records(run, split, data)` -> (feature records, examples) and
`finish(run, split, data, predictions, global_step)` (evaluation and result files).

Task modules import TensorFlow only inside the methods that build or run the model, so a
script reads and checks its data before waiting for TensorFlow.
"""

from bert_tf.tasks.classifier import ClassifierTask
from bert_tf.tasks.encoder import EncoderTask
from bert_tf.tasks.pretraining import PretrainingTask
from bert_tf.tasks.squad import SquadTask
from bert_tf.tasks.tagger import TaggerTask

# --task name -> task class (export_savedmodel.py)
TASKS = {task.name: task for task in (PretrainingTask, SquadTask, ClassifierTask, TaggerTask, EncoderTask)}


def for_export(name, bert_config, num_labels=None):
    """The task `name` as an export sees it: the model only, no data."""
    task_class = TASKS[name]
    if task_class.needs_num_labels:
        return task_class(bert_config, num_labels)
    return task_class(bert_config)
