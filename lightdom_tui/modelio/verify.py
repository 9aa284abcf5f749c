"""Check an export before it is registered.

f16 GGUF against the HF model (same token ids fed to both, so the comparison is
about weights and graph, not tokenizers):
- next-token logits at every position; pass when the largest absolute difference
  is at most ``F16_REL_TOLERANCE`` (2%) of the largest HF logit, and the top-1
  token agrees at every position that is not a near tie;
- greedy continuations (``GREEDY_TOKENS`` tokens, argmax loops on both sides):
  identical, or diverging only at a near tie (top-2 gap within
  ``TIE_FACTOR`` × the observed logit error);
- tokenizer agreement (llama.cpp vs HF token ids on the prompts) is reported;
  a mismatch is a warning, since the HF tokenizer itself may be the lossy one.

Quantized GGUF against the f16 one, on validation texts: top-1 agreement rate and
perplexity delta (``ppl_quant / ppl_f16 - 1``). Thresholds per family are in
``QUANT_THRESHOLDS``; a file that does not load or gives non-finite logits fails.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# See lightdom_tui/serving/__init__.py: OpenMP busy-waiting crawls on a shared box.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

F16_REL_TOLERANCE = 0.02
TIE_FACTOR = 4.0
GREEDY_TOKENS = 12
MAX_TEXT_TOKENS = 192
DEFAULT_PROMPTS = (
    "The capital of France is",
    "Attributes for a blog post: title, author,",
    "def add(a, b):\n    return",
)
DEFAULT_TEXTS = (
    "A product page lists a name, a price, a currency and whether the item is in stock.",
    "Blog posts have a title, an author, a publication date, tags and a body of text.",
    "Weather stations report temperature, humidity, wind speed and the time of reading.",
    "An invoice records the customer, the line items, the total amount and the due date.",
)
# (minimum top-1 agreement, maximum perplexity increase) by quant family.
QUANT_THRESHOLDS: dict[str, tuple[float, float]] = {
    "f32": (0.99, 0.01),
    "f16": (0.98, 0.02),
    "bf16": (0.95, 0.05),
    "q8_0": (0.90, 0.05),
    "default": (0.60, 0.50),
}


@dataclass
class VerificationReport:
    """Outcome of verifying one export; ``reasons`` says why it failed."""

    passed: bool
    f16: dict[str, Any] = field(default_factory=dict)
    quant: dict[str, Any] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for the registry's verification_json."""
        return asdict(self)


def open_llama(path: Path, *, n_ctx: int = 512, n_threads: int | None = None) -> Any:
    """A llama.cpp model with logits for every position (quiet)."""
    import llama_cpp

    return llama_cpp.Llama(
        str(path), logits_all=True, verbose=False, n_ctx=n_ctx, n_batch=n_ctx, n_threads=n_threads
    )


def llama_logits(llm: Any, ids: list[int]) -> np.ndarray:
    """Logits at every position of ``ids`` (fresh context each call)."""
    llm.reset()
    llm.eval(ids)
    return np.array(llm.scores[: len(ids)], dtype=np.float32)


def llama_greedy(llm: Any, ids: list[int], n: int) -> list[int]:
    """``n`` argmax tokens after ``ids`` (no sampler in the way)."""
    llm.reset()
    llm.eval(ids)
    out: list[int] = []
    for _ in range(n):
        token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        out.append(token)
        llm.eval([token])
    return out


def hf_logits(model: Any, ids: list[int]) -> np.ndarray:
    """HF logits at every position of ``ids``."""
    import torch

    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].float().numpy()


def hf_greedy(model: Any, ids: list[int], n: int) -> tuple[list[int], list[np.ndarray]]:
    """``n`` argmax tokens after ``ids`` and the logits each was chosen from."""
    seq, out, steps = list(ids), [], []
    for _ in range(n):
        logits = hf_logits(model, seq)[-1]
        token = int(np.argmax(logits))
        out.append(token)
        steps.append(logits)
        seq.append(token)
    return out, steps


def _top2_gap(logits: np.ndarray) -> np.ndarray:
    part = np.partition(logits, -2, axis=-1)
    return part[..., -1] - part[..., -2]


def compare_f16(hf_dir: Path, gguf_path: Path, prompts: tuple[str, ...] = DEFAULT_PROMPTS) -> dict[str, Any]:
    """Logit, greedy and tokenizer comparison of the HF model and its f16/f32 GGUF."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(hf_dir))
    model = AutoModelForCausalLM.from_pretrained(str(hf_dir), dtype="float32").eval()
    llm = open_llama(gguf_path)
    try:
        max_abs, scale, agree, total, token_mismatch = 0.0, 0.0, 0, 0, []
        greedy: list[dict[str, Any]] = []
        for prompt in prompts:
            ids = tokenizer(prompt).input_ids
            reference = hf_logits(model, ids)
            ours = llama_logits(llm, ids)
            diff = float(np.abs(reference - ours).max())
            max_abs, scale = max(max_abs, diff), max(scale, float(np.abs(reference).max()))
            tie = _top2_gap(reference) <= TIE_FACTOR * diff
            same = reference.argmax(-1) == ours.argmax(-1)
            agree += int((same | tie).sum())
            total += len(ids)
            if llm.tokenize(prompt.encode(), add_bos=llm.metadata.get("tokenizer.ggml.add_bos_token") == "true", special=True) != ids:
                token_mismatch.append(prompt)
            hf_tokens, hf_steps = hf_greedy(model, ids, GREEDY_TOKENS)
            ll_tokens = llama_greedy(llm, ids, GREEDY_TOKENS)
            first = next((i for i, (a, b) in enumerate(zip(hf_tokens, ll_tokens)) if a != b), None)
            near_tie = first is not None and float(_top2_gap(hf_steps[first])) <= TIE_FACTOR * max(diff, 1e-4)
            greedy.append(
                {"prompt": prompt, "match": first is None, "diverged_at": first, "near_tie": near_tie,
                 "hf": hf_tokens, "llama_cpp": ll_tokens}
            )
    finally:
        llm.close()
    rel = max_abs / scale if scale else 0.0
    return {
        "max_abs_diff": max_abs,
        "max_abs_logit": scale,
        "rel_diff": rel,
        "rel_tolerance": F16_REL_TOLERANCE,
        "top1_agreement": agree / total if total else 1.0,
        "greedy_match": all(g["match"] or g["near_tie"] for g in greedy),
        "greedy": greedy,
        "tokenizer_mismatch": token_mismatch,
    }


def perplexity_and_argmax(llm: Any, ids_list: list[list[int]]) -> tuple[float, list[np.ndarray]]:
    """Perplexity over the texts and the argmax prediction at each position."""
    nll, count, argmaxes = 0.0, 0, []
    for ids in ids_list:
        logits = llama_logits(llm, ids).astype(np.float64)
        if not np.isfinite(logits).all():
            raise ValueError("non-finite logits")
        logits -= logits.max(-1, keepdims=True)
        logprobs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        nll -= float(logprobs[np.arange(len(ids) - 1), ids[1:]].sum())
        count += len(ids) - 1
        argmaxes.append(logits.argmax(-1))
    return math.exp(nll / max(count, 1)), argmaxes


def compare_quant(f16_path: Path, quant_path: Path, texts: list[str], quant: str) -> dict[str, Any]:
    """Top-1 agreement and perplexity delta of the quantized file against the f16 one."""
    reference = open_llama(f16_path)
    try:
        add_bos = reference.metadata.get("tokenizer.ggml.add_bos_token") == "true"
        ids_list = [reference.tokenize(t.encode(), add_bos=add_bos, special=True)[:MAX_TEXT_TOKENS] for t in texts]
        ids_list = [ids for ids in ids_list if len(ids) >= 2]
        ppl_ref, arg_ref = perplexity_and_argmax(reference, ids_list)
    finally:
        reference.close()
    quantized = open_llama(quant_path)
    try:
        ppl_q, arg_q = perplexity_and_argmax(quantized, ids_list)
    finally:
        quantized.close()
    same = sum(int((a == b).sum()) for a, b in zip(arg_ref, arg_q))
    total = sum(len(a) for a in arg_ref)
    min_agree, max_delta = QUANT_THRESHOLDS.get(quant, QUANT_THRESHOLDS["default"])
    return {
        "quant": quant,
        "texts": len(ids_list),
        "tokens": total,
        "agreement": same / total if total else 1.0,
        "perplexity_f16": ppl_ref,
        "perplexity_quant": ppl_q,
        "perplexity_delta": ppl_q / ppl_ref - 1.0,
        "min_agreement": min_agree,
        "max_perplexity_delta": max_delta,
    }


def verify_export(
    hf_dir: Path,
    f16_path: Path,
    quant_path: Path | None,
    quant: str,
    *,
    prompts: tuple[str, ...] = DEFAULT_PROMPTS,
    texts: list[str] | None = None,
) -> VerificationReport:
    """Verify the f16 GGUF against HF and the quantized file against the f16; never raises on a mismatch."""
    report = VerificationReport(passed=False)
    try:
        report.f16 = compare_f16(hf_dir, f16_path, prompts)
    except Exception as exc:  # a file llama.cpp cannot load is a failed verification, not a crash
        report.reasons.append(f"f16 GGUF could not be compared: {exc}")
        return report
    f16 = report.f16
    if f16["rel_diff"] > F16_REL_TOLERANCE:
        report.reasons.append(
            f"logits differ by {f16['rel_diff']:.4f} of the largest logit (tolerance {F16_REL_TOLERANCE})"
        )
    if f16["top1_agreement"] < 1.0:
        report.reasons.append(f"top-1 tokens agree at only {f16['top1_agreement']:.3f} of positions")
    if not f16["greedy_match"]:
        report.reasons.append("greedy continuations diverge (not at a near tie)")
    if f16["tokenizer_mismatch"]:
        report.warnings.append(f"llama.cpp tokenizes {len(f16['tokenizer_mismatch'])} prompt(s) differently from HF")
    if quant_path is not None:
        try:
            report.quant = compare_quant(f16_path, quant_path, list(texts or DEFAULT_TEXTS), quant)
        except Exception as exc:
            report.reasons.append(f"{quant} GGUF could not be evaluated: {exc}")
            return report
        q = report.quant
        if q["agreement"] < q["min_agreement"]:
            report.reasons.append(f"{quant}: top-1 agreement {q['agreement']:.3f} < {q['min_agreement']}")
        if q["perplexity_delta"] > q["max_perplexity_delta"]:
            report.reasons.append(
                f"{quant}: perplexity up {q['perplexity_delta']:.1%} (max {q['max_perplexity_delta']:.0%})"
            )
    report.passed = not report.reasons
    return report
