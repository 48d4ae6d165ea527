"""Build a tiny BERT (random weights, safetensors) and its tokenizer, offline, into argv[1].

Run in a child process: torch and transformers stay out of the test process.
"""

import sys
from pathlib import Path

import torch
from transformers import BertConfig, BertModel, BertTokenizer

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
torch.manual_seed(0)
config = BertConfig(
    vocab_size=40,
    hidden_size=16,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=32,
    max_position_embeddings=32,
)
BertModel(config).save_pretrained(out, safe_serialization=True)
words = ["hello", "world", "local", "models", "##s"]
vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"abcdefghijklmnopqrstuvwxyz", *words]
BertTokenizer(vocab={token: i for i, token in enumerate(vocab)}).save_pretrained(out)
