"""Bech32 (BIP 173, *not* bech32m) as used by age keys.

Differences from BIP 173, matching the reference age implementation: there is
no 90 character limit, and the human-readable part keeps its case on decoding
(age uses the case to tell secret keys, always upper case, from public keys,
always lower case).
"""

from __future__ import annotations

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHARSET_INDEX = {c: i for i, c in enumerate(CHARSET)}
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


class Bech32Error(ValueError):
    """The string is not valid Bech32."""


def _polymod(values: list[int]) -> int:
    chk = 1
    for value in values:
        top = chk >> 25
        chk = ((chk & 0x1FFFFFF) << 5) ^ value
        for i, gen in enumerate(_GENERATOR):
            if (top >> i) & 1:
                chk ^= gen
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert_bits(data: bytes | list[int], from_bits: int, to_bits: int, pad: bool) -> list[int]:
    acc = 0
    bits = 0
    out: list[int] = []
    max_value = (1 << to_bits) - 1
    for value in data:
        acc = (acc << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((acc >> bits) & max_value)
    if pad:
        if bits:
            out.append((acc << (to_bits - bits)) & max_value)
    elif bits >= from_bits:
        raise Bech32Error("illegal zero padding")
    elif (acc << (to_bits - bits)) & max_value:
        raise Bech32Error("non-zero padding")
    return out


def _check_hrp(hrp: str) -> None:
    if not hrp:
        raise Bech32Error("empty human-readable part")
    if any(not 33 <= ord(c) <= 126 for c in hrp):
        raise Bech32Error("invalid character in human-readable part")


def encode(hrp: str, data: bytes) -> str:
    """Encode `data` under `hrp`; the result is upper case iff `hrp` is."""
    _check_hrp(hrp)
    lower = hrp.lower()
    upper = hrp.upper()
    if hrp not in (lower, upper):
        raise Bech32Error("mixed-case human-readable part")
    values = _convert_bits(data, 8, 5, pad=True)
    polymod = _polymod(_hrp_expand(lower) + values + [0] * 6) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    result = lower + "1" + "".join(CHARSET[v] for v in values + checksum)
    return result if hrp == lower else result.upper()


def decode(text: str) -> tuple[str, bytes]:
    """Decode Bech32 `text` into (human-readable part with its original case, data)."""
    if not text.isascii():
        raise Bech32Error("non-ASCII character")
    if text.lower() != text and text.upper() != text:
        raise Bech32Error("mixed case")
    pos = text.rfind("1")
    if pos < 1 or pos + 7 > len(text):
        raise Bech32Error("separator '1' at invalid position")
    hrp = text[:pos]
    _check_hrp(hrp)
    try:
        values = [_CHARSET_INDEX[c] for c in text[pos + 1 :].lower()]
    except KeyError:
        raise Bech32Error("invalid character in data part") from None
    if _polymod(_hrp_expand(hrp.lower()) + values) != 1:
        raise Bech32Error("invalid checksum")
    return hrp, bytes(_convert_bits(values[:-6], 5, 8, pad=False))
