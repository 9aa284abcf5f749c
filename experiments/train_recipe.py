"""One recipe experiment: LoRA on SmolLM2-135M (dequantized embedded GGUF), then merge → GGUF → q4_k_m.

Loss is on assistant tokens only; LoRA can be limited to the top K decoder layers (autograd
then stops there, so the backward pass skips the lower layers). Runs under the caller's
`nice`, with 2 torch threads.

Usage: python experiments/train_recipe.py OUT_DIR [--layers K] [--r 16] [--lr 1e-3] [--epochs 2] ...
Writes OUT_DIR/model-q4_k_m.gguf and OUT_DIR/train.json (loss curve, wall and CPU time).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SAMPLES = ROOT / "lightdom_tui" / "data" / "samples" / "attribute_generation.jsonl"
HF_CACHE = Path("/tmp/lt9/smol_hf")  # dequantized embedded model (experiments/README: how it is made)


def tokenize(tok, messages):
    """input_ids and labels (-100 outside the assistant answer, incl. its end token)."""
    prompt = tok.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    full = tok.apply_chat_template(messages, tokenize=False)
    p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    f_ids = tok(full, add_special_tokens=False)["input_ids"]
    assert f_ids[: len(p_ids)] == p_ids
    labels = [-100] * len(p_ids) + f_ids[len(p_ids):]
    # The template ends with "<|im_end|>\n": learn the end token, not the trailing newline.
    if tok.decode(f_ids[-1:]) == "\n":
        labels[-1] = -100
    return f_ids, labels


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=0, help="LoRA on the top K layers (0 = all)")
    ap.add_argument("--r", type=int, default=16)
    ap.add_argument("--alpha", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--bs", type=int, default=8)
    ap.add_argument("--max-minutes", type=float, default=0.0, help="stop training after this wall time (0 = off)")
    ap.add_argument("--max-cpu-minutes", type=float, default=30.0,
                    help="stop after this much process CPU time: 30 = 15 min on both cores of an idle 2-core box")
    ap.add_argument("--modules", default="q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2, help="torch threads (1 wastes less CPU when the box is oversubscribed)")
    ap.add_argument("--init-adapter", help="continue from a saved adapter (a further epoch of a previous run)")
    ap.add_argument("--schedule", choices=["cosine", "constant"], default="cosine")
    ap.add_argument("--snapshot-every", type=int, default=0, help="save the adapter every N steps (0 = off)")
    args = ap.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tok = AutoTokenizer.from_pretrained(HF_CACHE)
    model = AutoModelForCausalLM.from_pretrained(HF_CACHE, dtype=torch.float32)
    n_layers = model.config.num_hidden_layers
    modules = args.modules.split(",")
    if args.layers:
        targets = [f"model.layers.{i}.{'self_attn' if m.endswith(('q_proj', 'k_proj', 'v_proj', 'o_proj')) else 'mlp'}.{m}"
                   for i in range(n_layers - args.layers, n_layers) for m in modules]
    else:
        targets = modules
    if args.init_adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, args.init_adapter, is_trainable=True)
    else:
        model = get_peft_model(model, LoraConfig(r=args.r, lora_alpha=args.alpha, lora_dropout=0.0, target_modules=targets))
    rows = [json.loads(line) for line in SAMPLES.read_text().splitlines() if line.strip()]
    data = [tokenize(tok, r["messages"]) for r in rows]
    steps_per_epoch = math.ceil(len(data) / args.bs)
    total_steps = math.ceil(steps_per_epoch * args.epochs)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    warmup = max(1, total_steps // 20)
    def factor(s: int) -> float:
        decay = 1.0 if args.schedule == "constant" else 0.5 * (1 + math.cos(math.pi * min(1.0, s / total_steps)))
        return min(1.0, (s + 1) / warmup) * decay

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    rng = random.Random(args.seed)
    base = model.base_model.model
    losses, step = [], 0
    t0, c0 = time.time(), time.process_time()
    stopped = "steps"
    model.train()
    while step < total_steps:
        order = list(range(len(data)))
        rng.shuffle(order)
        # Length-grouped batches: sort chunks of 4 batches by length, less padding.
        chunks = [order[i:i + args.bs * 4] for i in range(0, len(order), args.bs * 4)]
        batches = []
        for chunk in chunks:
            chunk.sort(key=lambda i: len(data[i][0]))
            batches += [chunk[i:i + args.bs] for i in range(0, len(chunk), args.bs)]
        rng.shuffle(batches)
        for batch in batches:
            if step >= total_steps:
                break
            width = max(len(data[i][0]) for i in batch)
            ids = torch.full((len(batch), width), tok.pad_token_id or 0)
            labels = torch.full((len(batch), width), -100)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                f, lab = data[i]
                ids[row, : len(f)] = torch.tensor(f)
                labels[row, : len(lab)] = torch.tensor(lab)
                mask[row, : len(f)] = 1
            hidden = base.model(input_ids=ids, attention_mask=mask).last_hidden_state
            # Logits only where a label exists (the answer): the 49k-vocab head is costly.
            target = labels[:, 1:]
            keep = target != -100
            logits = base.lm_head(hidden[:, :-1][keep])
            loss = torch.nn.functional.cross_entropy(logits, target[keep])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step(); sched.step(); opt.zero_grad()
            step += 1
            losses.append(round(loss.item(), 4))
            if step % 2 == 0:
                print(f"step {step}/{total_steps} loss {sum(losses[-5:]) / 5:.4f} wall {time.time() - t0:.0f}s "
                      f"cpu {time.process_time() - c0:.0f}s", flush=True)
            if args.snapshot_every and step % args.snapshot_every == 0:
                # Adapter snapshots let a slow run be evaluated at any point (experiments/export_snapshot.py).
                model.save_pretrained(out / f"snapshot-{step:04d}")
                (out / f"snapshot-{step:04d}" / "progress.json").write_text(json.dumps(
                    {"step": step, "wall_s": round(time.time() - t0), "cpu_s": round(time.process_time() - c0),
                     "examples_seen": step * args.bs, "loss_last5": losses[-5:]}))
            if args.max_minutes and time.time() - t0 > args.max_minutes * 60:
                stopped = "wall time"
                total_steps = step
            if args.max_cpu_minutes and time.process_time() - c0 > args.max_cpu_minutes * 60:
                stopped = "cpu time"
                total_steps = step
    train_wall, train_cpu = time.time() - t0, time.process_time() - c0
    model.save_pretrained(out / "adapter-final")
    merged = model.merge_and_unload()
    hf_dir = out / "merged"
    merged.save_pretrained(hf_dir)
    tok.save_pretrained(hf_dir)
    from lightdom_tui.modelio.gguf_export import export_gguf
    from lightdom_tui.modelio.quantize import quantize_gguf
    f16 = out / "model-f16.gguf"
    export_gguf(hf_dir, f16, out_type="f16", name="smollm2-attr")
    q = quantize_gguf(f16, out / "model-q4_k_m.gguf", "q4_k_m", n_threads=2)
    shutil.rmtree(hf_dir)
    f16.unlink()
    info = {"args": vars(args), "examples": len(data), "steps": step, "stopped": stopped,
            "train_wall_s": round(train_wall, 1), "train_cpu_s": round(train_cpu, 1),
            "trainable_params": sum(p.numel() for p in params), "loss_first5": losses[:5], "loss_last5": losses[-5:],
            "q4_k_m_bytes": q.size_bytes}
    (out / "train.json").write_text(json.dumps(info, indent=1))
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
