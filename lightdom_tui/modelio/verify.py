"""Check an export before it is registered.

f16 GGUF against a float32 reference (base + adapter, computed one transformers
decoder layer at a time, so it fits where the model in float32 would not; see
``reference.py``), same token ids fed to both, so the comparison is about weights
and graph, not tokenizers:
- next-token logits at every position; pass when the largest absolute difference
  is at most ``F16_REL_TOLERANCE`` (2%) of the largest HF logit, and the top-1
  token agrees at every position that is not a near tie;
- greedy continuations (``GREEDY_TOKENS`` tokens of llama.cpp's argmax loop, checked
  teacher-forced against the reference's argmax): identical, or diverging only at a near tie (top-2 gap within
  ``TIE_FACTOR`` × the observed logit error);
- tokenizer agreement (llama.cpp vs HF token ids on the prompts) is reported;
  a mismatch is a warning, since the HF tokenizer itself may be the lossy one.

Quantized GGUF against the f16 one, on validation texts: top-1 agreement rate and
perplexity delta (``ppl_quant / ppl_f16 - 1``). Thresholds per family are in
``QUANT_THRESHOLDS``; a file that does not load or gives non-finite logits fails.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

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
    """A llama.cpp model with logits for every position (quiet; opened by the inference core)."""
    from lightdom_tui.inference.llama import open_llama as open_model
    from lightdom_tui.settings import ServingSettings

    settings = ServingSettings(n_threads=n_threads or 0, n_batch=n_ctx)
    return open_model(path, settings, n_ctx=n_ctx, logits_all=True)


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


def _top2_gap(logits: np.ndarray) -> np.ndarray:
    part = np.partition(logits, -2, axis=-1)
    return part[..., -1] - part[..., -2]


def _prompt_ids(model_path: Path, llm: Any, prompts: tuple[str, ...]) -> tuple[list[list[int]], list[str]]:
    """Token ids fed to both sides (the HF tokenizer's, when there is one) and the prompts llama.cpp splits differently."""
    add_bos = llm.metadata.get("tokenizer.ggml.add_bos_token") == "true"
    ours = [llm.tokenize(p.encode(), add_bos=add_bos, special=True) for p in prompts]
    if not (Path(model_path) / "tokenizer.json").is_file():
        return ours, []  # a GGUF base: its tokenizer is carried over as is
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_path))
    ids = [tokenizer(p).input_ids for p in prompts]
    return ids, [p for p, a, b in zip(prompts, ids, ours) if a != b]


def compare_f16(
    model_path: Path,
    gguf_path: Path,
    prompts: tuple[str, ...] = DEFAULT_PROMPTS,
    *,
    adapter: Path | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Logit, greedy and tokenizer comparison of the reference model and its f16/f32 GGUF.

    The reference is ``model_path`` (HF folder or GGUF base) with ``adapter`` merged,
    computed layer by layer in float32 (:mod:`lightdom_tui.modelio.reference`).
    llama.cpp's greedy continuation is checked teacher-forced: the reference's argmax
    at each continuation position must be llama.cpp's token (or a near tie). That is
    the same test as generating greedily on both sides, with one reference pass.
    """
    from lightdom_tui.modelio.reference import reference_logits

    llm = open_llama(gguf_path)
    try:
        ids_list, token_mismatch = _prompt_ids(model_path, llm, prompts)
        continuations = [llama_greedy(llm, ids, GREEDY_TOKENS) for ids in ids_list]
        ours_list = [llama_logits(llm, ids + cont) for ids, cont in zip(ids_list, continuations)]
    finally:
        llm.close()
    references = reference_logits(model_path, [ids + cont for ids, cont in zip(ids_list, continuations)],
                                  adapter=adapter, device=device)
    max_abs, scale, agree, total = 0.0, 0.0, 0, 0
    greedy: list[dict[str, Any]] = []
    for prompt, ids, cont, reference, ours in zip(prompts, ids_list, continuations, references, ours_list):
        diff = float(np.abs(reference - ours).max())
        max_abs, scale = max(max_abs, diff), max(scale, float(np.abs(reference).max()))
        tie = _top2_gap(reference) <= TIE_FACTOR * diff
        same = reference.argmax(-1) == ours.argmax(-1)
        agree += int((same | tie).sum())
        total += len(same)
        steps = reference[len(ids) - 1: len(ids) - 1 + len(cont)]
        ref_tokens = [int(t) for t in steps.argmax(-1)]
        first = next((i for i, (a, b) in enumerate(zip(ref_tokens, cont)) if a != b), None)
        near_tie = first is not None and float(_top2_gap(steps[first])) <= TIE_FACTOR * max(diff, 1e-4)
        greedy.append(
            {"prompt": prompt, "match": first is None, "diverged_at": first, "near_tie": near_tie,
             "hf": ref_tokens, "llama_cpp": cont}
        )
    rel = max_abs / scale if scale else 0.0
    return {
        "method": "float32 reference from transformers' layers, one layer in memory at a time; "
                  "greedy checked teacher-forced on llama.cpp's continuation",
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
    adapter: Path | None = None,
    device: str = "cpu",
) -> VerificationReport:
    """Verify the f16 GGUF against the reference (``hf_dir`` + ``adapter``) and the quantized file against the f16.

    ``hf_dir`` may be an HF folder or a GGUF base. Never raises on a mismatch.
    """
    report = VerificationReport(passed=False)
    try:
        report.f16 = compare_f16(hf_dir, f16_path, prompts, adapter=adapter, device=device)
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
