"""Convert BERT (and NEZHA) checkpoints between our training checkpoints, Google's TF1 layout,
HuggingFace and NVIDIA's PyTorch `.pt` files. A NEZHA model (`"use_relative_position": true`
in bert_config.json; HuggingFace's `model_type: nezha`) converts the same way.

  # HuggingFace folder (config.json + model.safetensors) -> Google's layout
  python convert_checkpoint.py --hf_model_dir=DIR --tf1_checkpoint=OUT/bert_model.ckpt
  # Google's layout, or a run_pretraining.py checkpoint (a step or a model folder) -> HuggingFace
  python convert_checkpoint.py --tf1_checkpoint=IN/bert_model.ckpt --hf_output_dir=DIR
  # a training run -> Google's layout and HuggingFace's (BertForPreTraining) in one command
  python convert_checkpoint.py --init_checkpoint=model_dir --bert_config_file=bert_config.json \
      --vocab_file=vocab.txt --tf1_checkpoint=google/bert_model.ckpt --hf_output_dir=hf
  # NVIDIA DeepLearningExamples PyTorch BERT (torch.save file; PyTorch not needed) -> Google's
  python convert_checkpoint.py --pytorch_checkpoint=ckpt.pt --bert_config_file=bert_config.json \
      --tf1_checkpoint=google/bert_model.ckpt

`--tf1_checkpoint` is what is written when an input is given (`--hf_model_dir`,
`--init_checkpoint`, `--pytorch_checkpoint`), and the input otherwise. Google's layout is
`bert_model.ckpt.{index,data-*}`, `checkpoint`, `bert_config.json` and `vocab.txt` in one
folder, weights only.
"""

from absl import flags, logging

from bert_tf import checkpoints
from bert_tf.cli import run_main
from bert_tf.errors import UserError

FLAGS = flags.FLAGS
flags.DEFINE_string("hf_model_dir", None, "Input: a HuggingFace BERT or NEZHA folder (config.json, model.safetensors).")
flags.DEFINE_string("init_checkpoint", None, "Input: Google's TF1 layout or one of our training checkpoints (a step's prefix, or a model folder: its latest).")
flags.DEFINE_string("pytorch_checkpoint", None, "Input: an NVIDIA DeepLearningExamples PyTorch BERT file (torch.save; a 'model' state dict or a bare one); needs --bert_config_file.")
flags.DEFINE_string("tf1_checkpoint", None, "Google-layout checkpoint prefix: written when an input flag is given, else the input (Google's layout or ours).")
flags.DEFINE_string("hf_output_dir", None, "Folder to write a HuggingFace BERT into (with the MLM/NSP heads when the checkpoint has them: BertForPreTraining).")
flags.DEFINE_string("bert_config_file", None, "The model's bert_config.json (default: beside the input checkpoint).")
flags.DEFINE_string("vocab_file", None, "The vocab to copy beside the outputs (default: vocab.txt beside the input).")


class ConvertUsageError(UserError):
    """Flags that do not make one conversion."""


def _input_and_outputs():
    """(input kind, input path, Google-layout output prefix or None, HF output dir or None)."""
    given = [(k, getattr(FLAGS, k)) for k in ("hf_model_dir", "init_checkpoint", "pytorch_checkpoint")
             if getattr(FLAGS, k)]
    if len(given) > 1:
        raise ConvertUsageError(f"give one input, not {' and '.join('--' + k for k, _ in given)}")
    if not given:
        if not (FLAGS.tf1_checkpoint and FLAGS.hf_output_dir):
            raise ConvertUsageError("give an input (--hf_model_dir, --init_checkpoint, "
                                    "--pytorch_checkpoint, or --tf1_checkpoint with "
                                    "--hf_output_dir) and where to write it")
        return "init_checkpoint", FLAGS.tf1_checkpoint, None, FLAGS.hf_output_dir
    kind, path = given[0]
    if not (FLAGS.tf1_checkpoint or FLAGS.hf_output_dir):
        raise ConvertUsageError(f"--{kind}: say where to write: --tf1_checkpoint=OUT/bert_model.ckpt "
                                "(Google's layout) and/or --hf_output_dir=DIR")
    if kind == "hf_model_dir" and (FLAGS.hf_output_dir or FLAGS.bert_config_file or FLAGS.vocab_file):
        raise ConvertUsageError("--hf_model_dir converts to Google's layout (--tf1_checkpoint) "
                                "with the folder's own config.json and vocab.txt")
    if kind == "pytorch_checkpoint" and not FLAGS.bert_config_file:
        raise ConvertUsageError("--pytorch_checkpoint needs --bert_config_file (a .pt file holds "
                                "no config; NVIDIA's bert_config.json is Google's format)")
    return kind, path, FLAGS.tf1_checkpoint, FLAGS.hf_output_dir


def main(_):
    kind, path, tf1_out, hf_out = _input_and_outputs()
    if kind == "hf_model_dir":
        config, names, ignored = checkpoints.convert_hf_to_tf1(path, tf1_out)
        dropped = ignored
    elif kind == "pytorch_checkpoint":
        config, names, dropped = checkpoints.convert_pytorch(
            path, tf1_out, hf_out, FLAGS.bert_config_file, FLAGS.vocab_file)
    else:
        config, names, dropped = checkpoints.convert_checkpoint(
            path, tf1_out, hf_out, FLAGS.bert_config_file, FLAGS.vocab_file)
    for target, layout in ((tf1_out, "Google's TF1 layout"), (hf_out, "HuggingFace layout")):
        if target:
            logging.info("wrote %d variables to %s (%s)", len(names), target, layout)
    logging.info("left out: %s", ", ".join(dropped[:8]) + (" ..." if len(dropped) > 8 else "")
                 if dropped else "nothing")
    note = checkpoints.google_activation_note(config)
    if note and tf1_out:
        logging.warning("%s", note)
        print(f"note: {note}")


if __name__ == "__main__":
    run_main(main)
