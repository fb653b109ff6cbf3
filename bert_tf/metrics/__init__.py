"""Evaluation metrics of the fine-tuning tasks, in plain Python (no TensorFlow)."""
