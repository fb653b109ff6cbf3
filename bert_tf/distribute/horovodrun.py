"""`horovodrun`, started quietly: the same arguments, the same launcher.

The launcher itself imports TensorFlow (Horovod checks its frameworks) before any worker
starts, so a plain `horovodrun` prints TensorFlow's C++ start-up lines that
TF_CPP_MIN_LOG_LEVEL cannot hide. Started through `import bert_tf` (`bert_tf.quiet`) they are
dropped here as in the scripts; the workers are quiet on their own. The launchers in
`scripts/` use it:

    python -m bert_tf.distribute.horovodrun -np 2 -H localhost:2 --gloo python run_pretraining.py --horovod ...
"""

import bert_tf  # noqa: F401  (bert_tf.quiet, before Horovod imports TensorFlow)


def main():
    from horovod.runner.launch import run_commandline
    run_commandline()


if __name__ == "__main__":
    main()
