"""open_clip's CLIP tokenizer (`open_clip.tokenizer.SimpleTokenizer`, clean="lower") without
torch: the same byte-level BPE over `bpe_simple_vocab_16e6.txt.gz`, the same text cleaning
(ftfy, HTML unescaping twice, whitespace collapsing, lower case), the same regex, start token
49406 and end token 49407, and the same truncation (to the context length, end token last).
Token ids are identical to open_clip's for every prompt except the one case below.

**Literal special tokens are escaped.** open_clip's regex matches the text `<start_of_text>` /
`<end_of_text>` inside a prompt as the special token itself, so a prompt could end its own
text early (the text tower pools at the end token). Here those strings are tokenized as
ordinary characters (`<`, `end`, `_`, …): a prompt can never inject a special token, and
`Tokenized.escaped` says which prompts contained one (their ids then differ from open_clip's,
by design).
"""

import gzip
import html
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import ftfy
import numpy as np
import regex

BPE_FILENAME = "bpe_simple_vocab_16e6.txt.gz"
SOT_TOKEN = "<start_of_text>"
EOT_TOKEN = "<end_of_text>"
DEFAULT_CONTEXT_LENGTH = 77

# open_clip's pattern without its leading `<start_of_text>|<end_of_text>|` alternatives: the
# escape described in the module docstring.
_WORD_PATTERN = regex.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""", regex.IGNORECASE
)
# How many merges open_clip reads from the vocab file (the rest is unused): 49152 - 256 - 2.
_MERGES = 48894


@dataclass(frozen=True)
class Tokenized:
    """Token ids for a batch of prompts, as the text tower takes them.

    ids: int64 (n, context_length), zero-padded; truncated: the prompt did not fit and was cut
    (end token last); escaped: the prompt contained a literal special-token string that was
    tokenized as text.
    """

    ids: np.ndarray
    truncated: np.ndarray
    escaped: np.ndarray


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte → printable character table that the BPE vocab is written in."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs), strict=True))


def clean_text(text: str) -> str:
    """open_clip's "lower" cleaning: ftfy repair, HTML unescaped twice, whitespace collapsed,
    lower case."""
    text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
    return " ".join(text.split()).strip().lower()


class ClipTokenizer:
    """Byte-level BPE with open_clip's vocabulary; build one per vocab file (`load_tokenizer`)."""

    def __init__(self, bpe_path: str | Path, context_length: int = DEFAULT_CONTEXT_LENGTH):
        with gzip.open(bpe_path) as f:
            lines = f.read().decode("utf-8").split("\n")
        merges = [tuple(line.split()) for line in lines[1 : _MERGES + 1]]
        self._byte_encoder = _bytes_to_unicode()
        vocab = list(self._byte_encoder.values())
        vocab += [v + "</w>" for v in vocab]
        vocab += ["".join(m) for m in merges]
        vocab += [SOT_TOKEN, EOT_TOKEN]
        self._encoder = {token: i for i, token in enumerate(vocab)}
        self._ranks = {pair: i for i, pair in enumerate(merges)}
        self._cache: dict[str, list[int]] = {}
        self.sot_id = self._encoder[SOT_TOKEN]
        self.eot_id = self._encoder[EOT_TOKEN]
        self.vocab_size = len(vocab)
        self.context_length = context_length

    def _bpe(self, token: str) -> list[int]:
        """The vocab ids of one pre-token (already byte-encoded), merging by rank like open_clip."""
        cached = self._cache.get(token)
        if cached is not None:
            return cached
        word = list(token[:-1]) + [token[-1] + "</w>"]
        while len(word) > 1:
            pairs = {(a, b) for a, b in zip(word, word[1:], strict=False)}
            best = min(pairs, key=lambda pair: self._ranks.get(pair, _MERGES + 1))
            if best not in self._ranks:
                break
            first, second = best
            merged: list[str] = []
            i = 0
            while i < len(word):
                if i < len(word) - 1 and word[i] == first and word[i + 1] == second:
                    merged.append(first + second)
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        ids = [self._encoder[w] for w in word]
        self._cache[token] = ids
        return ids

    def encode(self, text: str) -> list[int]:
        """The BPE ids of a prompt, without start/end tokens or truncation."""
        return self._encode_clean(clean_text(text))

    def _encode_clean(self, cleaned: str) -> list[int]:
        ids: list[int] = []
        for piece in _WORD_PATTERN.findall(cleaned):
            ids.extend(self._bpe("".join(self._byte_encoder[b] for b in piece.encode("utf-8"))))
        return ids

    def __call__(self, prompts: Sequence[str]) -> Tokenized:
        n, width = len(prompts), self.context_length
        ids = np.zeros((n, width), dtype=np.int64)
        truncated = np.zeros(n, dtype=bool)
        escaped = np.zeros(n, dtype=bool)
        for row, prompt in enumerate(prompts):
            cleaned = clean_text(prompt)
            tokens = [self.sot_id, *self._encode_clean(cleaned), self.eot_id]
            if len(tokens) > width:
                tokens = tokens[:width]
                tokens[-1] = self.eot_id
                truncated[row] = True
            ids[row, : len(tokens)] = tokens
            escaped[row] = SOT_TOKEN in cleaned or EOT_TOKEN in cleaned
        return Tokenized(ids=ids, truncated=truncated, escaped=escaped)


@cache
def load_tokenizer(bpe_path: str, context_length: int = DEFAULT_CONTEXT_LENGTH) -> ClipTokenizer:
    """One tokenizer per vocab file and context length (reading the vocab takes ~0.2 s)."""
    return ClipTokenizer(bpe_path, context_length)
