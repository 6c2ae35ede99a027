"""Shared test set-up: small torch ops run faster on one thread on a shared 2-core machine."""
import os

import torch

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
torch.set_num_threads(1)
