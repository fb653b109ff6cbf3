"""Oracle: run Google's modeling.BertModel on a TF1 checkpoint and save its outputs.

  python google_modeling.py CONFIG_JSON CKPT_PREFIX INPUTS_NPZ OUTPUT_NPZ

INPUTS_NPZ holds input_ids, input_mask, segment_ids; OUTPUT_NPZ gets sequence_output,
pooled_output and every layer's output (layer_0 ...).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tf1_shim  # noqa: E402,F401  (must come before `bert`)
import numpy as np  # noqa: E402
import tensorflow.compat.v1 as tf  # noqa: E402
from bert import modeling  # noqa: E402


def main(config_path, ckpt, inputs_path, output_path):
    inputs = np.load(inputs_path)
    config = modeling.BertConfig.from_json_file(config_path)
    ids = tf.constant(inputs["input_ids"])
    model = modeling.BertModel(config, is_training=False, input_ids=ids,
                               input_mask=tf.constant(inputs["input_mask"]),
                               token_type_ids=tf.constant(inputs["segment_ids"]),
                               use_one_hot_embeddings=False)
    tvars = tf.trainable_variables()
    assignment, _ = modeling.get_assignment_map_from_checkpoint(tvars, ckpt)
    tf.train.init_from_checkpoint(ckpt, assignment)
    fetches = {"sequence_output": model.get_sequence_output(),
               "pooled_output": model.get_pooled_output()}
    for i, layer in enumerate(model.get_all_encoder_layers()):
        fetches[f"layer_{i}"] = layer
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        values = sess.run(fetches)
    np.savez(output_path, **values)
    print(f"loaded {len(assignment)} variables")


if __name__ == "__main__":
    main(*sys.argv[1:5])
