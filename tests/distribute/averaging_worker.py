"""A worker for the averaging tests: trains a micro BERT through the Estimator.

Run alone (`--device=cpu`, batch 2b), under `horovodrun -np 2` (`--device=horovod`), as one
of two `--device=multiworker` processes (TF_CONFIG), or alone over two logical CPU devices
(`--device=mirrored`): each global batch holds the same 2b examples of real text every way,
worker (or device) r taking rows [r*b, (r+1)*b). Dropout is off and the loss is a mean over
examples, so averaged gradients of two replicas equal the gradient of the whole batch. Adam's
epsilon is 1 and nothing is clipped, so the update follows the gradient's scale (a mean
taken twice, or a sum left undivided, moves the weights visibly). Each
worker writes its final weights to OUT/weights_{device}_rank{r}.npz.

`--task=pair`: a classifier of real sentences (the line's parity); `--task=pretraining`: the
pretraining task on real records (RECORDS), every example with all its masked-LM weights 1,
so the masked-LM loss, a mean over weighted predictions, is also a mean over examples.

Beside each: slices_{task}_{tag}_rank{r}.txt, how many gradients were sent as tf.IndexedSlices.
With `--fp16_compression` the gradients travel as float16 (weights_{task}_{device}_fp16_rank{r}.npz);
with `--accumulation=k` each worker's batch is k micro-batches (..._acc{k}_rank{r}.npz).

With `--thor_average=inverses,factors` (task pair, cpu or horovod) it trains with THOR
instead, once per averaging mode, into OUT/weights_pair_{device}_thor_{mode}_rank{r}.npz:
averaged factors are the whole batch's.

  python averaging_worker.py OUT --device=cpu|horovod|mirrored|multiworker --global_batch=8 \
      [--task=pair|pretraining --records=FILE] [--thor_average=inverses,factors] [--fp16_compression] [--accumulation=k]
"""

import argparse
import os
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent.parent))

import bert_tf  # noqa: E402,F401
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bert_tf.config import preset  # noqa: E402
from bert_tf.distribute import create_strategy  # noqa: E402
from bert_tf.distribute.gradients import is_sparse  # noqa: E402
from bert_tf.estimator import TRAIN, Estimator, EstimatorSpec, RunConfig  # noqa: E402
from bert_tf.estimator.estimator import TrainParams  # noqa: E402
from bert_tf.heads import BertClassifierModel, classification_loss  # noqa: E402
from bert_tf.optimization import OptimizerConfig  # noqa: E402
from bert_tf.tasks.pretraining import PretrainingTask  # noqa: E402
from bert_tf.thor import ThorConfig  # noqa: E402
from conftest import SHARED_DATA, UNCASED_VOCAB, simple_ids  # noqa: E402

SEQ, PRED, STEPS = 32, 5, 6


class PairTask:
    """Binary classification of real sentences; the label is the line's parity."""

    def __init__(self, config):
        self.config = config

    def create_model(self, params):
        return BertClassifierModel(self.config, 2).build_for(SEQ)

    def model_fn(self, model, features, mode, params):
        logits = model(features, training=mode == TRAIN)["logits"]
        return EstimatorSpec(loss=classification_loss(logits, features["label_ids"]))


def input_fn_for(global_batch):
    lines = [line for line in (SHARED_DATA / "pretrain_text/sample_text.txt").read_text().splitlines()
             if line.strip()][:global_batch * STEPS]
    ids, mask, segments = simple_ids(SHARED_DATA / UNCASED_VOCAB, lines, SEQ)
    data = {"input_ids": ids, "input_mask": mask, "segment_ids": segments,
            "label_ids": (np.arange(len(lines)) % 2).astype(np.int32)}

    def input_fn(params, ctx):
        per_worker = global_batch // ctx.num_input_pipelines
        start = ctx.input_pipeline_id * per_worker
        dataset = tf.data.Dataset.from_tensor_slices(data).batch(global_batch, drop_remainder=True)
        return dataset.map(lambda f: {k: v[start:start + per_worker] for k, v in f.items()}).repeat()

    return input_fn


def pretraining_input_fn_for(global_batch, records, task):
    """The records in file order, each global batch split by worker as `input_fn_for` does."""
    def input_fn(params, ctx):
        per_worker = global_batch // ctx.num_input_pipelines
        start = ctx.input_pipeline_id * per_worker
        dataset = tf.data.TFRecordDataset(records).take(global_batch * STEPS)
        dataset = dataset.batch(global_batch, drop_remainder=True).map(task.parse)
        dataset = dataset.map(lambda f: dict(f, masked_lm_weights=tf.ones_like(f["masked_lm_weights"])))
        return dataset.map(lambda f: {k: v[start:start + per_worker] for k, v in f.items()}).repeat()
    return input_fn


def train(args, strategy, task, input_fn, optimizer, tag):
    params = {"global_batch_size": args.global_batch,
              "train": TrainParams(optimizer=optimizer.validate(), num_accumulation_steps=args.accumulation)}
    model_dir = os.path.join(args.out, f"model_{args.task}_{tag}")
    estimator = Estimator(task, RunConfig(model_dir, iterations_per_loop=3, save_checkpoints_steps=3,
                                          log_every_n_steps=3), params, strategy)
    sent = _count_slices_sent(strategy)
    estimator.train(input_fn, STEPS)
    with open(os.path.join(args.out, f"slices_{args.task}_{tag}_rank{strategy.rank}.txt"), "w") as f:
        f.write(str(max(sent, default=0)))
    weights = {name: np.asarray(v) for name, v in estimator.named_variables.items()}
    np.savez(os.path.join(args.out, f"weights_{args.task}_{tag}_rank{strategy.rank}.npz"), **weights)


def _count_slices_sent(strategy):
    """Counts, per traced reduction, the gradients handed to the strategy as tf.IndexedSlices."""
    sent, reduce = [], strategy.reduce_gradients

    def counting(grads):
        sent.append(sum(map(is_sparse, grads)))
        return reduce(grads)
    strategy.reduce_gradients = counting
    return sent


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--global_batch", type=int, default=8)
    parser.add_argument("--task", default="pair", choices=["pair", "pretraining"])
    parser.add_argument("--records")
    parser.add_argument("--thor_average", default="", help="comma list: train THOR with each")
    parser.add_argument("--fp16_compression", action="store_true", help="gradients sent as float16")
    parser.add_argument("--accumulation", type=int, default=1, help="micro-batches per step (of each worker's batch)")
    args = parser.parse_args()
    options = {"logical_devices": "2"} if args.device == "mirrored" else {}
    if args.fp16_compression:
        options["fp16_compression"] = True
    # THOR without XLA: its compiled two-branch step costs more to build than these steps
    # take; XLA with THOR is tested in tests/test_thor.py.
    strategy = create_strategy(args.device, jit_compile=not args.thor_average, options=options)
    if args.task == "pair":
        config = preset("micro", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        task, input_fn = PairTask(config), input_fn_for(args.global_batch)
    else:
        config = preset("micro", vocab_size=30522, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        task = PretrainingTask(config, SEQ, PRED)
        input_fn = pretraining_input_fn_for(args.global_batch, args.records, task)
    if not args.thor_average:
        train(args, strategy, task, input_fn,
              OptimizerConfig(learning_rate=1.0, num_train_steps=STEPS, num_warmup_steps=1, epsilon=1.0,
                              clip_norm=0.0),
              args.device + ("_fp16" if args.fp16_compression else "")
              + (f"_acc{args.accumulation}" if args.accumulation > 1 else ""))
    for average in filter(None, args.thor_average.split(",")):
        thor = ThorConfig(frequency=2, average=average, global_batch_size=args.global_batch)
        optimizer = OptimizerConfig(optimizer_type="thor", learning_rate=0.05, num_train_steps=STEPS,
                                    num_warmup_steps=0, decay_power=2.0, weight_decay_rate=1e-3,
                                    clip_norm=0.0, thor=thor)
        train(args, strategy, task, input_fn, optimizer, f"{args.device}_thor_{average}")


if __name__ == "__main__":
    main()
