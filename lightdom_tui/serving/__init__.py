"""Serving: the local llama.cpp engine, the remote OpenAI-compatible engine, the router.

The OpenMP wait policy llama.cpp's threads run under: see :mod:`lightdom_tui.inference`.
"""
