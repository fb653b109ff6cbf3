"""Peer for bench_model.py: HuggingFace's PyTorch BERT on the CPU (run in .venv-bench).

  python hf_torch_bert.py SIZE BATCH SEQ PREDICTIONS STEPS  -> one JSON line of seq/s
"""

import json
import sys
import time

import torch
from transformers import BertConfig, BertForPreTraining

SIZES = {"base": (768, 12, 12, 3072), "minilm_l6": (384, 6, 12, 1536)}


def timed(fn, steps):
    fn()
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - start) / steps


def main(size, batch, seq, predictions, steps):
    torch.manual_seed(0)
    hidden, layers, heads, inter = SIZES[size]
    config = BertConfig(vocab_size=30522, hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=heads, intermediate_size=inter, hidden_act="gelu_new")
    model = BertForPreTraining(config)
    ids = torch.randint(0, 30522, (batch, seq))
    labels = torch.full((batch, seq), -100)
    labels[:, :predictions] = torch.randint(0, 30522, (batch, predictions))
    nsp = torch.zeros(batch, dtype=torch.long)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)

    def train():
        model.train()
        loss = model(input_ids=ids, labels=labels, next_sentence_label=nsp).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    def forward():
        model.eval()
        with torch.no_grad():
            model(input_ids=ids)

    result = {"peer": "HF PyTorch " + torch.__version__, "size": size,
              "forward": batch / timed(forward, steps), "train": batch / timed(train, steps)}
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1], *map(int, sys.argv[2:6]))
