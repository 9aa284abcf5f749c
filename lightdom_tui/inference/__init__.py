"""Inference core: the one place a llama.cpp model is opened, the engine pool, batched decoding.

No database here: callers (router, gateway, evaluation, canaries, perplexity, token
counting) resolve a version to a path first and hand the core a path and settings.

llama.cpp's CPU backend runs its threads under OpenMP. OpenMP's default "active"
wait spins between steps; on a shared or oversubscribed box that turns a 2-thread
decode into a crawl (measured: 63 s vs 8 s for the same 60 tokens under load).
"PASSIVE" is set before llama_cpp is first imported; an explicit setting wins.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
