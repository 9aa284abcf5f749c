"""The dimensions of a decoder-only transformer, read without loading weights.

Here, below training, because modelio reads them (``load.inspect_base``) and training's
memory estimate and recipe use them: the shape belongs to the model, not to a run.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ModelShape:
    """The dimensions of a decoder-only transformer, read without loading weights."""

    architecture: str
    hidden: int
    layers: int
    intermediate: int
    heads: int
    kv_heads: int
    vocab: int
    tied_embeddings: bool = True

    @property
    def kv_dim(self) -> int:
        """Width of the key/value projections (grouped-query attention shares heads)."""
        return self.hidden // self.heads * self.kv_heads

    def linear_shapes(self) -> list[tuple[int, int]]:
        """(in, out) of every linear projection in one block (Llama / Qwen2 layout)."""
        h, kv, i = self.hidden, self.kv_dim, self.intermediate
        return [(h, h), (h, kv), (h, kv), (h, h), (h, i), (h, i), (i, h)]

    @property
    def linear_params(self) -> int:
        """Parameters in the blocks' linear projections (what LoRA targets and QLoRA quantises)."""
        return self.layers * sum(a * b for a, b in self.linear_shapes())

    @property
    def other_params(self) -> int:
        """Embeddings (tied or not) and norms."""
        embeddings = self.vocab * self.hidden * (1 if self.tied_embeddings else 2)
        return embeddings + self.layers * 2 * self.hidden + self.hidden

    @property
    def n_params(self) -> int:
        """All parameters."""
        return self.linear_params + self.other_params
