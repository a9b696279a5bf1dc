"""Short, readable display names for model specs (``NAME`` or ``NAME:key=value,...``), for table rows and legends.

Display only: results keep the full specs; a chapter's parameters cell shows them. The book's own specs have
hand-picked names (:data:`BOOK_NAMES`); any other spec gets a generic one (known keys in words, at most two
arguments, the ones that tell specs apart first). Names are unique within the set they are made for.

>>> display_name("vit:embed_dim=64,depth=4,num_heads=2,patch_size=4")
'ViT (64-d, 4 layers)'
>>> display_names(["cnn:width=4", "cnn"])
['cnn (width=4)', 'cnn']
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["BOOK_NAMES", "display_name", "display_names"]

#: Hand-picked names of the long specs the book's chapters use.
BOOK_NAMES: dict[str, str] = {
    "vit:embed_dim=64,depth=4,num_heads=2,patch_size=4": "ViT (64-d, 4 layers)",
    "vit_small_patch16_224:img_size=32,patch_size=4": "ViT-S/16 (32 px, patch 4)",
    "simclr-finetune:epochs=500,batch_size=512,lr=0.001": "simclr-finetune (500 epochs)",
    "simclr-probe:epochs=500,batch_size=512,lr=0.001": "simclr-probe (500 epochs)",
}

_BASES = {"vit": "ViT"}
_KEYS = {"embed_dim": "{}-d", "depth": "{} layers", "num_heads": "{} heads", "patch_size": "patch {}",
         "img_size": "{} px", "epochs": "{} epochs", "batch_size": "batch {}"}
MAX_PARTS = 2
MAX_BARE = 28  # a bare name longer than this (a timm name with its pretrained tag) loses the tag's tail


def _parse(spec: str) -> tuple[str, list[tuple[str, str]]]:
    name, _, args = spec.partition(":")
    pairs = []
    for item in filter(None, (a.strip() for a in args.split(","))):
        key, eq, value = item.partition("=")
        pairs.append((key.strip(), value.strip()) if eq else (item, ""))
    return name.strip(), pairs


def _word(key: str, value: str) -> str:
    if not value:
        return key
    value = {"true": "yes", "false": "no"}.get(value.lower(), value)
    if key == "weights":  # a local checkpoint: its file name (the full path is in the parameters)
        return f"weights {value.replace(chr(92), '/').rstrip('/').rsplit('/', 1)[-1]}"
    if key not in _KEYS:
        return f"{key}={value}"
    word = _KEYS[key].format(value)
    return word[:-1] if value == "1" and word.endswith("s") else word  # 1 epoch, 1 layer


def _generic(spec: str, varying: set[str], parts: int) -> str:
    name, pairs = _parse(spec)
    if not pairs:
        if len(name) > MAX_BARE and "." in name:  # timm "arch.pretrained_tag": the architecture, the tag's start
            arch, _, tag = name.partition(".")
            words = tag.split("_")
            return f"{arch} ({'_'.join(words[:parts - 1])}…)" if parts - 1 < len(words) else name
        return name
    order = [p for p in pairs if p[0] in varying] + [p for p in pairs if p[0] not in varying]
    shown = [_word(k, v) for k, v in order[:parts]]
    more = ", …" if len(order) > parts else ""
    return f"{_BASES.get(name, name)} ({', '.join(shown)}{more})"


def _varying(specs: Sequence[str]) -> dict[str, set[str]]:
    """Per base name: the argument keys whose values differ among the specs of that base."""
    seen: dict[str, dict[str, set[str]]] = {}
    for s in specs:
        name, pairs = _parse(s)
        keys = seen.setdefault(name, {})
        for k, v in pairs:
            keys.setdefault(k, set()).add(v)
    out = {}
    for name, keys in seen.items():
        n = sum(1 for s in specs if _parse(s)[0] == name)
        # a key missing from some spec of the base also tells them apart
        out[name] = {k for k, vals in keys.items()
                     if len(vals) > 1 or sum(1 for s in specs if _parse(s)[0] == name and k in dict(_parse(s)[1])) < n}
    return out


def display_names(specs: Iterable[str]) -> list[str]:
    """A display name per spec (the same spec twice gets the same name), distinct across different specs."""
    specs = [str(s) for s in specs]
    uniq = list(dict.fromkeys(specs))
    varying = _varying(uniq)
    bases = [_parse(s)[0] for s in uniq]
    # a hand-picked name only where no other spec of the same base needs telling apart from it
    names = {s: BOOK_NAMES[s] if s in BOOK_NAMES and bases.count(b) == 1 else _generic(s, varying.get(b, set()), MAX_PARTS)
             for s, b in zip(uniq, bases)}
    longest = max((max(len(_parse(s)[1]), s.count("_")) for s in uniq), default=0)
    for parts in range(MAX_PARTS + 1, longest + 2):
        clash = _clashes(names)
        if not clash:
            break
        for s in clash:
            names[s] = _generic(s, varying.get(_parse(s)[0], set()), parts)
    for s in _clashes(names):  # still alike (e.g. a spec's generic name equals another bare spec): the spec itself
        names[s] = s
    return [names[s] for s in specs]


def _clashes(names: dict[str, str]) -> list[str]:
    count: dict[str, int] = {}
    for n in names.values():
        count[n] = count.get(n, 0) + 1
    return [s for s, n in names.items() if count[n] > 1]


def display_name(spec: str, among: Iterable[str] = ()) -> str:
    """The display name of ``spec``, distinct from those of the other specs in ``among`` (when given)."""
    spec = str(spec)
    return display_names([spec, *(str(a) for a in among if str(a) != spec)])[0]
