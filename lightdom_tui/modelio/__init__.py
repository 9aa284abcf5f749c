"""Model files: load a base (HF folder or GGUF), merge, export GGUF, quantize, verify."""
