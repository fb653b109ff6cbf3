"""Peer for bench_model.py: HuggingFace's PyTorch BERT on the CPU (run in .venv-bench).

  python hf_torch_bert.py SIZE BATCH SEQ PREDICTIONS STEPS [HEAD [TRAIN_BATCH]]  -> one JSON line of seq/s

HEAD: pretraining (BertForPreTraining, the default) or squad (BertForQuestionAnswering,
for bench_squad.py); TRAIN_BATCH: the training batch when it differs from BATCH.
"""

import json
import sys
import time

import torch
from transformers import BertConfig, BertForPreTraining, BertForQuestionAnswering

SIZES = {"base": (768, 12, 12, 3072), "minilm_l6": (384, 6, 12, 1536)}


def timed(fn, steps):
    fn()
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - start) / steps


def main(size, batch, seq, predictions, steps, head="pretraining", train_batch=None):
    torch.manual_seed(0)
    hidden, layers, heads, inter = SIZES[size]
    config = BertConfig(vocab_size=30522, hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=heads, intermediate_size=inter, hidden_act="gelu_new")
    train_batch = train_batch or batch
    ids = torch.randint(0, 30522, (batch, seq))
    train_ids = torch.randint(0, 30522, (train_batch, seq))
    if head == "squad":
        model = BertForQuestionAnswering(config)
        labels = {"start_positions": torch.randint(0, seq, (train_batch,)),
                  "end_positions": torch.randint(0, seq, (train_batch,))}
    else:
        model = BertForPreTraining(config)
        mlm = torch.full((train_batch, seq), -100)
        mlm[:, :predictions] = torch.randint(0, 30522, (train_batch, predictions))
        labels = {"labels": mlm, "next_sentence_label": torch.zeros(train_batch, dtype=torch.long)}
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)

    def train():
        model.train()
        loss = model(input_ids=train_ids, **labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    def forward():
        model.eval()
        with torch.no_grad():
            model(input_ids=ids)

    result = {"peer": "HF PyTorch " + torch.__version__, "size": size,
              "forward": batch / timed(forward, steps), "train": train_batch / timed(train, steps)}
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1], *map(int, sys.argv[2:6]), *sys.argv[6:7], *map(int, sys.argv[7:8]))
