"""Standalone LoRA / QLoRA fine-tuning with plain transformers + peft (exported by LightDom).

    python train.py --config config.json            # one process (CPU or one GPU)
    accelerate launch --config_file accelerate.yaml train.py --config config.json   # DDP / FSDP

Reads chats (OpenAI-style messages, one JSON object per line: {"messages": [...]}) from
the files named in config.json, renders them with the model's own chat template, trains
only on assistant tokens (plus the token closing each turn), and saves the adapter to
<output_dir>/adapter. Metrics go to <output_dir>/metrics.jsonl. This file imports nothing
from LightDom on purpose: it is the run, reproducible anywhere transformers/peft run.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    BitsAndBytesConfig,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

IGNORE_INDEX = -100


def read_chats(path: Path) -> list[list[dict]]:
    """Chats from a JSONL file of {"messages": [...]} objects."""
    if not path.is_file():
        return []
    return [json.loads(line)["messages"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def tool_calls_as_text(tokenizer, messages: list[dict]) -> list[dict]:
    """Templates without tool support get calls written in the Hermes <tool_call> format."""
    if "tool_calls" in str(tokenizer.chat_template or ""):
        return messages
    out = []
    for message in messages:
        message = dict(message)
        calls = message.pop("tool_calls", None) or []
        parts = [message.get("content")] if message.get("content") else []
        for call in calls:
            function = call.get("function", call)
            arguments = function.get("arguments", {})
            if isinstance(arguments, str):
                try:
                    arguments = json.loads(arguments) if arguments.strip() else {}
                except json.JSONDecodeError:
                    pass
            payload = json.dumps({"name": function["name"], "arguments": arguments}, ensure_ascii=False)
            parts.append(f"<tool_call>\n{payload}\n</tool_call>")
        message["content"] = "\n".join(parts)
        out.append(message)
    return out


def render(tokenizer, messages: list[dict], max_len: int) -> dict | None:
    """input_ids + labels (-100 outside assistant turns); None when nothing is left to learn."""
    messages = tool_calls_as_text(tokenizer, messages)
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    spans = []
    for i, message in enumerate(messages):
        if message["role"] == "assistant":
            start = len(tokenizer.apply_chat_template(messages[:i], tokenize=False, add_generation_prompt=True))
            upto = tokenizer.apply_chat_template(messages[: i + 1], tokenize=False)
            closing = upto.rfind(tokenizer.eos_token, start)
            spans.append((start, closing + len(tokenizer.eos_token) if closing >= 0 else len(upto)))
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = encoding["input_ids"][:max_len]
    labels = [
        token if any(s <= offset[0] < e for s, e in spans) else IGNORE_INDEX
        for token, offset in zip(ids, encoding["offset_mapping"])
    ]
    if all(label == IGNORE_INDEX for label in labels):
        return None
    return {"input_ids": ids, "labels": labels}


class ChatDataset(torch.utils.data.Dataset):
    def __init__(self, rows: list[dict]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict:
        return self.rows[index]


def collate(pad_id: int):
    """Pad each batch to its own longest example (never to a fixed length)."""

    def fn(rows: list[dict]) -> dict:
        width = max(len(r["input_ids"]) for r in rows)
        pad = [width - len(r["input_ids"]) for r in rows]
        return {
            "input_ids": torch.tensor([r["input_ids"] + [pad_id] * p for r, p in zip(rows, pad)]),
            "labels": torch.tensor([r["labels"] + [IGNORE_INDEX] * p for r, p in zip(rows, pad)]),
            "attention_mask": torch.tensor([[1] * len(r["input_ids"]) + [0] * p for r, p in zip(rows, pad)]),
        }

    return fn


class JsonlMetrics(TrainerCallback):
    """Append every logged metric dict to metrics.jsonl (LightDom imports it into its run record)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001, ANN003 - HF signature
        if state.is_world_process_zero and logs:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"step": state.global_step, **logs}) + "\n")


def load_model(cfg: dict):
    """The base model (4-bit NF4 + double quant for QLoRA) with LoRA adapters attached."""
    cuda = torch.cuda.is_available()
    dtype = torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float32
    kwargs: dict = {"dtype": dtype}
    if cfg["method"] == "qlora":
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=dtype
        )
    model = AutoModelForCausalLM.from_pretrained(cfg["base_model"], **kwargs)
    if cfg["method"] == "qlora":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg["gradient_checkpointing"])
    lora = LoraConfig(r=cfg["lora_r"], lora_alpha=cfg["lora_alpha"], lora_dropout=cfg["lora_dropout"],
                      target_modules=cfg["target_modules"], layers_to_transform=cfg.get("layers_to_transform") or None,
                      task_type="CAUSAL_LM")
    return get_peft_model(model, lora), dtype


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path(__file__).with_name("config.json"))
    parser.add_argument("--max-steps", type=int, default=None, help="override config max_steps")
    args = parser.parse_args()
    cfg = json.loads(args.config.read_text(encoding="utf-8"))
    here = args.config.parent
    output = here / cfg["output_dir"]
    output.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg["seed"])

    tokenizer = AutoTokenizer.from_pretrained(cfg["base_model"])
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    rows = [r for r in (render(tokenizer, m, cfg["max_seq_len"]) for m in read_chats(here / cfg["train_file"])) if r]
    val = [r for r in (render(tokenizer, m, cfg["max_seq_len"]) for m in read_chats(here / cfg["validation_file"])) if r]
    if not rows:
        raise SystemExit("no training example has an assistant token to learn from")
    model, dtype = load_model(cfg)

    max_steps = args.max_steps if args.max_steps is not None else cfg["max_steps"]
    arguments = TrainingArguments(
        output_dir=str(output / "checkpoints"),
        per_device_train_batch_size=cfg["batch_size"],
        per_device_eval_batch_size=cfg["batch_size"],
        gradient_accumulation_steps=cfg["grad_accum"],
        learning_rate=cfg["learning_rate"],
        weight_decay=cfg["weight_decay"],
        lr_scheduler_type="constant_with_warmup" if cfg["schedule"] == "constant" else cfg["schedule"],
        warmup_steps=cfg["warmup_steps"] or math.ceil(cfg["warmup_ratio"] * max(max_steps, 1)),
        num_train_epochs=cfg["epochs"],
        max_steps=max_steps if max_steps > 0 else -1,
        max_grad_norm=cfg["max_grad_norm"],
        logging_steps=cfg["logging_steps"],
        save_steps=cfg["save_steps"],
        eval_strategy="steps" if val else "no",
        eval_steps=cfg["eval_steps"],
        train_sampling_strategy="group_by_length",  # batches of similar length: little padding
        gradient_checkpointing=cfg["gradient_checkpointing"] and cfg["method"] != "qlora",
        bf16=dtype == torch.bfloat16,
        use_cpu=not torch.cuda.is_available(),
        seed=cfg["seed"],
        report_to=[],
        remove_unused_columns=False,
    )
    trainer = Trainer(
        model=model,
        args=arguments,
        train_dataset=ChatDataset(rows),
        eval_dataset=ChatDataset(val) if val else None,
        data_collator=collate(tokenizer.pad_token_id),
        callbacks=[JsonlMetrics(output / "metrics.jsonl")],
    )
    trainer.train()
    if trainer.is_world_process_zero():
        model.save_pretrained(output / "adapter")
        tokenizer.save_pretrained(output / "adapter")


if __name__ == "__main__":
    main()
