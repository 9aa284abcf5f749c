"""Fine-tuning: presets, rendering + label masks, packing, the LoRA/QLoRA loop, run records.

Heavy libraries (torch, transformers, peft) are imported inside the functions that need
them, so importing this package stays cheap for the CLI and the TUI.
"""
