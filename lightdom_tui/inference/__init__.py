"""Inference core: the one place a llama.cpp model is opened, the engine pool, batched decoding.

No database here: callers (router, gateway, evaluation, canaries, perplexity, token
counting) resolve a version to a path first and hand the core a path and settings.

llama.cpp's CPU backend runs its threads under OpenMP and ends every op of a decode in
an OpenMP barrier, hundreds a token. libgomp's own default wait is left in force: spin
briefly, then sleep, with the spin cut short when a process runs more OpenMP threads
than CPUs (two A/B arms decoding at once). "PASSIVE" (sleep at once) turns each barrier
into a futex round trip: on an idle 2-core box, SmolLM2-135M Q4_1, 21.6 vs 7.7 ms a
token, and the gateway's 45.6 vs 104.7 tokens/s at concurrency 1; two models decoding
together in one process, 98 vs 93 tokens/s. On a box crowded by other processes, set
OMP_WAIT_POLICY=PASSIVE in the environment (``lightdom doctor`` says when).
"""
