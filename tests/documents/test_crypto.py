"""Properties of documents.crypto: round trips, tampering, keys, streaming memory bounds."""

from __future__ import annotations

import io
import os
import random
import tracemalloc
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from documents.crypto import (
    CHUNK_SIZE,
    ENCRYPTED_CHUNK_SIZE,
    AgeError,
    Decryptor,
    Encryptor,
    Header,
    HeaderError,
    HMACError,
    KeyFormatError,
    NoMatchError,
    PayloadError,
    Stanza,
    UnsupportedError,
    bech32,
    decrypt,
    decrypt_iter,
    decrypt_stream,
    encrypt,
    encrypt_stream,
    generate_identity,
    identity_from_bytes,
    identity_to_bytes,
    identity_to_recipient,
    parse_header,
    recipient_from_bytes,
    recipient_to_bytes,
    rewrap_file_header,
    rewrap_header,
)
from documents.crypto.stream import NONCE_SIZE, PayloadEncryptor

IDENTITY, RECIPIENT = generate_identity()
OTHER_IDENTITY, OTHER_RECIPIENT = generate_identity()
# A vector identity and the recipient `age-keygen -y` derives from it.
KNOWN_IDENTITY = "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0"
KNOWN_RECIPIENT = "age1xmwwc06ly3ee5rytxm9mflaz2u56jjj36s0mypdrwsvlul66mv4q47ryef"

HYPOTHESIS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def random_bytes(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def split(data: bytes, sizes: list[int]) -> Iterator[bytes]:
    """Cut `data` into pieces whose sizes cycle through `sizes` (0 means an empty piece)."""
    offset = 0
    i = 0
    while offset < len(data):
        size = sizes[i % len(sizes)] if sizes else len(data)
        yield data[offset : offset + size]
        offset += size
        i += 1


def encrypt_in_pieces(plaintext: bytes, sizes: list[int], recipients: list[str]) -> bytes:
    encryptor = Encryptor(recipients)
    out = [encryptor.header()]
    out += [encryptor.update(piece) for piece in split(plaintext, sizes)]
    out.append(encryptor.finalize())
    return b"".join(out)


def feed_all(
    ciphertext: bytes, sizes: list[int], identities: list[str]
) -> tuple[bytes, Exception | None]:
    """Feed like the server does; return (all plaintext released, error or None)."""
    decryptor = Decryptor(identities)
    released: list[bytes] = []
    try:
        for piece in split(ciphertext, sizes):
            released += decryptor.feed(piece)
        released += decryptor.close()
    except AgeError as error:
        return b"".join(released), error
    return b"".join(released), None


def chunk_count(size: int) -> int:
    return max(1, -(-size // CHUNK_SIZE))


def layout(ciphertext: bytes) -> tuple[int, int]:
    """(header length, offset of the first payload chunk)."""
    _, length = parse_header(ciphertext)
    return length, length + NONCE_SIZE


# --- round trips -------------------------------------------------------------------------

piece_sizes = st.lists(st.integers(min_value=0, max_value=150_000), min_size=1, max_size=6).filter(
    lambda sizes: any(sizes)
)


@HYPOTHESIS
@given(
    size=st.one_of(
        st.integers(0, 300 * 1024),
        st.sampled_from(
            [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE, 4 * CHUNK_SIZE]
        ),
    ),
    seed=st.integers(0, 2**32),
    enc_sizes=piece_sizes,
    dec_sizes=piece_sizes,
)
def test_round_trip_random_chunking(
    size: int, seed: int, enc_sizes: list[int], dec_sizes: list[int]
) -> None:
    plaintext = random_bytes(size, seed)
    ciphertext = encrypt_in_pieces(plaintext, enc_sizes, [RECIPIENT])
    header_length, payload_start = layout(ciphertext)
    assert len(ciphertext) == payload_start + size + 16 * chunk_count(size)
    released, error = feed_all(ciphertext, dec_sizes, [IDENTITY])
    assert error is None
    assert released == plaintext


@HYPOTHESIS
@given(size=st.integers(0, 300 * 1024), sizes_a=piece_sizes, sizes_b=piece_sizes)
def test_stream_output_independent_of_chunking(
    size: int, sizes_a: list[int], sizes_b: list[int]
) -> None:
    """For a fixed payload key, the STREAM bytes do not depend on how plaintext was pushed."""
    plaintext = random_bytes(size, size)
    outputs = []
    for sizes in (sizes_a, sizes_b, [size or 1]):
        encryptor = PayloadEncryptor(bytes(range(32)))
        chunks = [c for piece in split(plaintext, sizes) for c in encryptor.update(piece)]
        assert encryptor.buffered <= CHUNK_SIZE
        chunks.append(encryptor.finalize())
        assert all(len(c) == ENCRYPTED_CHUNK_SIZE for c in chunks[:-1])
        assert 16 <= len(chunks[-1]) <= ENCRYPTED_CHUNK_SIZE
        outputs.append(b"".join(chunks))
    assert outputs[0] == outputs[1] == outputs[2]


def test_empty_plaintext_is_one_empty_final_chunk() -> None:
    ciphertext = encrypt(b"", [RECIPIENT])
    _, payload_start = layout(ciphertext)
    assert len(ciphertext) == payload_start + 16
    assert decrypt(ciphertext, [IDENTITY]) == b""


@pytest.mark.parametrize("size", [CHUNK_SIZE, 2 * CHUNK_SIZE])
def test_full_final_chunk_not_followed_by_empty_chunk(size: int) -> None:
    ciphertext = encrypt(bytes(size), [RECIPIENT])
    _, payload_start = layout(ciphertext)
    assert len(ciphertext) == payload_start + size // CHUNK_SIZE * ENCRYPTED_CHUNK_SIZE
    assert decrypt(ciphertext, [IDENTITY]) == bytes(size)


def test_multiple_recipients_and_matched_identity_index() -> None:
    third_identity, third_recipient = generate_identity()
    ciphertext = encrypt(b"hello", [RECIPIENT, OTHER_RECIPIENT])
    decryptor = Decryptor([third_identity, OTHER_IDENTITY])
    assert decryptor.feed(ciphertext) + decryptor.close() == [b"hello"]
    assert decryptor.matched_identity_index == 1
    assert decryptor.matched_stanza_index == 1
    assert decryptor.header is not None
    assert [s.type for s in decryptor.header.stanzas] == ["X25519", "X25519"]
    assert decryptor.header_bytes == ciphertext[: decryptor.header_length]
    assert not hasattr(decryptor, "file_key")
    with pytest.raises(NoMatchError):
        decrypt(ciphertext, [third_identity])


def test_streaming_helpers() -> None:
    plaintext = random_bytes(3 * CHUNK_SIZE + 11, 7)
    sink = io.BytesIO()
    written = encrypt_stream(io.BytesIO(plaintext), sink, [RECIPIENT], read_size=10_000)
    ciphertext = sink.getvalue()
    assert written == len(ciphertext)
    # Iterables of pieces work too, and ciphertext pieces may have any size.
    assert b"".join(decrypt_iter(io.BytesIO(ciphertext), [IDENTITY], read_size=777)) == plaintext
    assert b"".join(decrypt_iter(split(ciphertext, [1, 70_000, 5]), [IDENTITY])) == plaintext
    out = io.BytesIO()
    assert decrypt_stream(io.BytesIO(ciphertext), out, [IDENTITY]) == len(plaintext)
    assert out.getvalue() == plaintext

    class ReadOnly:  # a reader without readinto()
        def __init__(self, data: bytes) -> None:
            self._io = io.BytesIO(data)

        def read(self, size: int = -1) -> bytes:
            return self._io.read(size)

    assert b"".join(decrypt_iter(ReadOnly(ciphertext), [IDENTITY], read_size=999)) == plaintext
    sink = io.BytesIO()
    encrypt_stream(ReadOnly(plaintext), sink, [RECIPIENT], read_size=12345)
    assert decrypt(sink.getvalue(), [IDENTITY]) == plaintext
    sink = io.BytesIO()
    encrypt_stream(iter([plaintext[:5], b"", plaintext[5:]]), sink, [RECIPIENT])
    assert decrypt(sink.getvalue(), [IDENTITY]) == plaintext
    with pytest.raises(PayloadError):
        list(decrypt_iter(io.BytesIO(ciphertext[:-1]), [IDENTITY]))


def test_encryptor_and_decryptor_misuse() -> None:
    encryptor = Encryptor([RECIPIENT])
    assert encryptor.header() == encryptor.header()
    encryptor.finalize()
    with pytest.raises(RuntimeError):
        encryptor.update(b"x")
    with pytest.raises(ValueError):
        Encryptor([])
    with pytest.raises(TypeError):
        Encryptor(RECIPIENT)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Decryptor([])
    decryptor = Decryptor([IDENTITY])
    decryptor.feed(encrypt(b"x", [RECIPIENT]))
    assert decryptor.close() == [b"x"]
    with pytest.raises(RuntimeError):
        decryptor.feed(b"more")


# --- tampering ---------------------------------------------------------------------------

PLAINTEXT = random_bytes(3 * CHUNK_SIZE + 1000, 42)  # chunks 0, 1, 2 full; chunk 3 short, final
CIPHERTEXT = encrypt(PLAINTEXT, [RECIPIENT])
HEADER_LENGTH, PAYLOAD_START = layout(CIPHERTEXT)


def chunk_offset(index: int) -> int:
    return PAYLOAD_START + index * ENCRYPTED_CHUNK_SIZE


def flip(data: bytes, position: int, mask: int = 0x01) -> bytes:
    return data[:position] + bytes([data[position] ^ mask]) + data[position + 1 :]


def replace_b64_char(data: bytes, position: int) -> bytes:
    """Swap a base64 character for another one (keeps the header well formed)."""
    old = data[position : position + 1]
    new = b"B" if old != b"B" else b"C"
    return data[:position] + new + data[position + 1 :]


def expect_error(ciphertext: bytes, error_type: type[AgeError], *, released: bytes = b"") -> str:
    for sizes in ([len(ciphertext)], [65536 + 3], [1_000_000], [4096, 1]):
        plaintext, error = feed_all(ciphertext, sizes, [IDENTITY])
        assert type(error) is error_type, f"expected {error_type.__name__}, got {error!r}"
        assert plaintext == released
    return str(error)


def stanza_lines() -> list[bytes]:
    return CIPHERTEXT[:HEADER_LENGTH].split(b"\n")


def test_untampered_file_decrypts() -> None:
    assert feed_all(CIPHERTEXT, [100_000], [IDENTITY]) == (PLAINTEXT, None)


def test_tamper_version_line() -> None:
    expect_error(flip(CIPHERTEXT, 3), HeaderError)
    expect_error(CIPHERTEXT.replace(b"/v1\n", b"/v2\n", 1), HeaderError)


def test_tamper_stanza_share_and_body() -> None:
    share_start = len(b"age-encryption.org/v1\n-> X25519 ")
    expect_error(replace_b64_char(CIPHERTEXT, share_start + 5), NoMatchError)
    body_start = len(b"\n".join(stanza_lines()[:2])) + 1
    expect_error(replace_b64_char(CIPHERTEXT, body_start + 5), NoMatchError)
    expect_error(CIPHERTEXT.replace(b"-> X25519 ", b"-> X25518 ", 1), NoMatchError)
    # Invalid base64 in the stanza is a parse error, not a no-match.
    expect_error(CIPHERTEXT[: body_start + 5] + b"*" + CIPHERTEXT[body_start + 6 :], HeaderError)


def test_tamper_header_without_remac() -> None:
    # A well-formed extra stanza: the file key still unwraps, the MAC catches it.
    marker = b"\n--- "
    position = CIPHERTEXT.index(marker)
    tampered = CIPHERTEXT[:position] + b"\n-> grease x\nAAAA" + CIPHERTEXT[position:]
    expect_error(tampered, HMACError)


def test_tamper_mac() -> None:
    mac_start = HEADER_LENGTH - 1 - 43
    expect_error(replace_b64_char(CIPHERTEXT, mac_start + 3), HMACError)
    expect_error(flip(CIPHERTEXT, mac_start + 3, 0x80), HeaderError)  # not base64 any more


def test_tamper_payload_nonce() -> None:
    message = expect_error(flip(CIPHERTEXT, HEADER_LENGTH + 5), PayloadError)
    assert "chunk 0" in message


@pytest.mark.parametrize("chunk", [0, 1, 3])
@pytest.mark.parametrize("where", ["start", "middle", "tag"])
def test_tamper_chunk(chunk: int, where: str) -> None:
    start = chunk_offset(chunk)
    end = min(start + ENCRYPTED_CHUNK_SIZE, len(CIPHERTEXT))
    position = {"start": start, "middle": (start + end) // 2, "tag": end - 1}[where]
    message = expect_error(
        flip(CIPHERTEXT, position), PayloadError, released=PLAINTEXT[: chunk * CHUNK_SIZE]
    )
    assert f"bad tag at chunk {chunk}" in message


def test_truncate_at_chunk_boundary_last_chunk_was_not_final() -> None:
    for chunks in (1, 2, 3):
        message = expect_error(
            CIPHERTEXT[: chunk_offset(chunks)],
            PayloadError,
            released=PLAINTEXT[: chunks * CHUNK_SIZE],
        )
        assert "truncated" in message
    message = expect_error(CIPHERTEXT[:PAYLOAD_START], PayloadError)
    assert "truncated" in message


@pytest.mark.parametrize("cut", [1, 15, 16, 17, 500, ENCRYPTED_CHUNK_SIZE - 1])
def test_truncate_mid_chunk(cut: int) -> None:
    # Cut inside chunk 1: what remains of it is judged as a (bad) final chunk.
    expect_error(CIPHERTEXT[: chunk_offset(1) + cut], PayloadError, released=PLAINTEXT[:CHUNK_SIZE])


def test_truncate_in_header_or_nonce() -> None:
    for end in (0, 10, HEADER_LENGTH // 2, HEADER_LENGTH - 1):
        expect_error(CIPHERTEXT[:end], HeaderError)
    for end in (HEADER_LENGTH, HEADER_LENGTH + 15):
        expect_error(CIPHERTEXT[:end], HeaderError)


@pytest.mark.parametrize("extra", [b"\x00", b"x" * 15, b"x" * 16, bytes(ENCRYPTED_CHUNK_SIZE)])
def test_appended_bytes_after_short_final_chunk(extra: bytes) -> None:
    # The final chunk is short: appended bytes turn it into a longer (or full) chunk
    # that authenticates neither as final nor as non-final.
    message = expect_error(CIPHERTEXT + extra, PayloadError, released=PLAINTEXT[: 3 * CHUNK_SIZE])
    assert "bad tag at chunk 3" in message


def test_appended_data_after_full_final_chunk() -> None:
    plaintext = random_bytes(2 * CHUNK_SIZE, 3)
    ciphertext = encrypt(plaintext, [RECIPIENT])
    for extra in (b"\x00", bytes(100), ciphertext[-ENCRYPTED_CHUNK_SIZE:]):
        plaintext_released, error = feed_all(
            ciphertext + extra, [len(ciphertext) + len(extra)], [IDENTITY]
        )
        # The final chunk is authentic and released; the trailing data is then an error.
        assert isinstance(error, PayloadError)
        assert "trailing data" in str(error)
        assert plaintext_released == plaintext


def test_deferred_error_after_released_plaintext() -> None:
    plaintext = random_bytes(CHUNK_SIZE, 5)
    ciphertext = encrypt(plaintext, [RECIPIENT]) + b"junk"
    decryptor = Decryptor([IDENTITY])
    assert decryptor.feed(ciphertext) == [plaintext]  # authentic final chunk first...
    with pytest.raises(PayloadError, match="trailing data"):
        decryptor.close()  # ...then the error
    with pytest.raises(PayloadError):
        decryptor.feed(b"")  # errors are sticky


def test_swapped_and_duplicated_chunks() -> None:
    c0 = CIPHERTEXT[chunk_offset(0) : chunk_offset(1)]
    c1 = CIPHERTEXT[chunk_offset(1) : chunk_offset(2)]
    swapped = CIPHERTEXT[: chunk_offset(0)] + c1 + c0 + CIPHERTEXT[chunk_offset(2) :]
    assert "bad tag at chunk 0" in expect_error(swapped, PayloadError)
    duplicated = CIPHERTEXT[: chunk_offset(1)] + c0 + CIPHERTEXT[chunk_offset(1) :]
    assert "bad tag at chunk 1" in expect_error(
        duplicated, PayloadError, released=PLAINTEXT[:CHUNK_SIZE]
    )


def test_wrong_identity() -> None:
    with pytest.raises(NoMatchError):
        decrypt(CIPHERTEXT, [OTHER_IDENTITY])


def test_header_errors_are_raised_early() -> None:
    with pytest.raises(HeaderError):
        Decryptor([IDENTITY]).feed(b"hello")
    with pytest.raises(UnsupportedError):
        Decryptor([IDENTITY]).feed(b"-----BEGIN AGE ENCRYPTED FILE-----\n")
    with pytest.raises(HeaderError):
        Decryptor([IDENTITY]).feed(CIPHERTEXT[: HEADER_LENGTH - 2] + b"!\n")
    # No match / bad MAC are reported as soon as the header is in, before any payload.
    with pytest.raises(NoMatchError):
        Decryptor([OTHER_IDENTITY]).feed(CIPHERTEXT[:HEADER_LENGTH])
    decryptor = Decryptor([IDENTITY])
    for byte in CIPHERTEXT[:HEADER_LENGTH]:
        assert decryptor.feed(bytes([byte])) == []
    assert decryptor.header is not None
    assert decryptor.matched_identity_index == 0


def test_header_size_limit() -> None:
    big = encrypt(b"x", [RECIPIENT] * 300)
    assert len(parse_header(big)[0].stanzas) == 300
    with pytest.raises(HeaderError, match="larger"):
        parse_header(big, max_header_size=4096)
    decryptor = Decryptor([IDENTITY], max_header_size=4096)
    with pytest.raises(HeaderError):
        for piece in split(big, [1000]):
            decryptor.feed(piece)
            assert decryptor.buffered <= 4097


# --- header parsing and encoding ---------------------------------------------------------

printable_arg = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20
)
stanzas = st.builds(
    Stanza,
    type=printable_arg.filter(lambda t: t not in {"X25519", "scrypt"}),
    args=st.lists(printable_arg, max_size=4).map(tuple),
    body=st.one_of(
        st.binary(max_size=200), st.sampled_from([b"", bytes(48), bytes(96), bytes(47)])
    ),
)


@HYPOTHESIS
@given(
    stanza_list=st.lists(stanzas, max_size=5),
    mac=st.binary(min_size=32, max_size=32),
    tail=st.binary(max_size=40),
)
def test_header_encode_parse_round_trip(stanza_list: list[Stanza], mac: bytes, tail: bytes) -> None:
    header = Header(tuple(stanza_list), mac)
    encoded = header.encode()
    for line in encoded.split(b"\n"):
        assert len(line) <= 64 or line.startswith(b"-> ")
    parsed, length = parse_header(encoded + tail)
    assert (parsed, length) == (header, len(encoded))


def test_our_header_has_exactly_one_x25519_stanza() -> None:
    header, length = parse_header(CIPHERTEXT)
    assert length == HEADER_LENGTH
    assert [(s.type, len(s.args), len(s.body)) for s in header.stanzas] == [("X25519", 1, 32)]
    assert header.encode() == CIPHERTEXT[:HEADER_LENGTH]


def test_parse_header_rejects() -> None:
    with pytest.raises(HeaderError, match="truncated"):
        parse_header(CIPHERTEXT[: HEADER_LENGTH - 1])
    with pytest.raises(UnsupportedError):
        parse_header(
            b"\n  -----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n"
        )
    with pytest.raises(HeaderError):
        parse_header(CIPHERTEXT.replace(b"\n", b"\r\n", 1))
    scrypt_and_x25519 = CIPHERTEXT.replace(
        b"\n--- ", b"\n-> scrypt AAAAAAAAAAAAAAAAAAAAAA 10\nAAAA\n--- ", 1
    )
    with pytest.raises(HeaderError, match="scrypt"):
        parse_header(scrypt_and_x25519)


def test_only_unsupported_stanzas_is_unsupported() -> None:
    header = Header((Stanza("scrypt", ("AAAAAAAAAAAAAAAAAAAAAA", "10"), bytes(32)),), bytes(32))
    with pytest.raises(UnsupportedError):
        decrypt(header.encode() + bytes(32), [IDENTITY])
    header = Header((Stanza("unknown", (), b""),), bytes(32))
    with pytest.raises(NoMatchError):
        decrypt(header.encode() + bytes(32), [IDENTITY])


# --- rewrap ------------------------------------------------------------------------------


def test_rewrap() -> None:
    new_header, old_length = rewrap_file_header(CIPHERTEXT[:5000], IDENTITY, [OTHER_RECIPIENT])
    assert old_length == HEADER_LENGTH
    rewrapped = new_header + CIPHERTEXT[old_length:]
    assert decrypt(rewrapped, [OTHER_IDENTITY]) == PLAINTEXT
    with pytest.raises(NoMatchError):
        decrypt(rewrapped, [IDENTITY])
    header_only = rewrap_header(
        CIPHERTEXT[:HEADER_LENGTH],
        old_identity=IDENTITY,
        new_recipients=[RECIPIENT, OTHER_RECIPIENT],
    )
    assert len(parse_header(header_only)[0].stanzas) == 2
    assert decrypt(header_only + CIPHERTEXT[HEADER_LENGTH:], [IDENTITY]) == PLAINTEXT


def test_rewrap_rejects() -> None:
    with pytest.raises(HeaderError):
        rewrap_header(
            CIPHERTEXT[: HEADER_LENGTH + 1], old_identity=IDENTITY, new_recipients=[RECIPIENT]
        )
    with pytest.raises(NoMatchError):
        rewrap_file_header(CIPHERTEXT, OTHER_IDENTITY, [RECIPIENT])
    mac_start = HEADER_LENGTH - 1 - 43
    with pytest.raises(HMACError):  # never re-authenticate a tampered header
        rewrap_file_header(replace_b64_char(CIPHERTEXT, mac_start), IDENTITY, [RECIPIENT])


# --- keys and Bech32 ---------------------------------------------------------------------


def test_known_identity() -> None:
    assert identity_to_recipient(KNOWN_IDENTITY) == KNOWN_RECIPIENT
    raw = identity_to_bytes(KNOWN_IDENTITY)
    assert len(raw) == 32
    assert identity_from_bytes(raw) == KNOWN_IDENTITY
    public = recipient_to_bytes(KNOWN_RECIPIENT)
    assert recipient_from_bytes(public) == KNOWN_RECIPIENT


def test_generated_keys() -> None:
    identity, recipient = generate_identity()
    assert identity.startswith("AGE-SECRET-KEY-1") and identity.isupper() and len(identity) == 74
    assert recipient.startswith("age1") and recipient.islower() and len(recipient) == 62
    assert identity_to_recipient(identity) == recipient
    assert identity_from_bytes(identity_to_bytes(identity)) == identity
    assert generate_identity() != generate_identity()


@pytest.mark.parametrize("position", [16, 30, 50, 73])
def test_identity_checksum_detects_substitution(position: int) -> None:
    chars = list(KNOWN_IDENTITY)
    chars[position] = "Q" if chars[position] != "Q" else "P"
    with pytest.raises(KeyFormatError):
        identity_to_recipient("".join(chars))


@pytest.mark.parametrize("position", [4, 30, 61])
def test_recipient_checksum_detects_substitution(position: int) -> None:
    chars = list(KNOWN_RECIPIENT)
    chars[position] = "q" if chars[position] != "q" else "p"
    with pytest.raises(KeyFormatError):
        recipient_to_bytes("".join(chars))


def test_case_rules() -> None:
    with pytest.raises(KeyFormatError, match="upper case"):
        identity_to_bytes(KNOWN_IDENTITY.lower())
    with pytest.raises(KeyFormatError, match="lower case"):
        recipient_to_bytes(KNOWN_RECIPIENT.upper())
    with pytest.raises(KeyFormatError, match="mixed case"):
        identity_to_bytes(KNOWN_IDENTITY[:-2] + KNOWN_IDENTITY[-2:].lower())
    with pytest.raises(KeyFormatError):
        identity_to_bytes(KNOWN_RECIPIENT)
    with pytest.raises(KeyFormatError):
        recipient_to_bytes(KNOWN_IDENTITY)
    with pytest.raises(KeyFormatError):
        Encryptor([KNOWN_IDENTITY])


def test_unsupported_keys() -> None:
    pq_identity = "AGE-SECRET-KEY-PQ-1HZLGZUPT4ETPKDEV8HSGFDCYZ4E522W0A7PU2LHT8EH9W6YLNC3SW78XKG"
    with pytest.raises(UnsupportedError):
        Decryptor([pq_identity])
    with pytest.raises(UnsupportedError):
        Encryptor([bech32.encode("age1pq", bytes(1216))])
    with pytest.raises(UnsupportedError):
        Encryptor(
            ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN"]
        )
    with pytest.raises(UnsupportedError):
        Encryptor([bech32.encode("age1yubikey", bytes(33))])


def test_raw_key_lengths_and_low_order_recipient() -> None:
    with pytest.raises(KeyFormatError):
        identity_from_bytes(bytes(31))
    with pytest.raises(KeyFormatError):
        recipient_from_bytes(bytes(33))
    with pytest.raises(KeyFormatError):
        recipient_to_bytes(bech32.encode("age", bytes(31)))
    with pytest.raises(KeyFormatError, match="low-order"):
        Encryptor([recipient_from_bytes(bytes(32))])


@pytest.mark.parametrize(
    "text",
    [
        "A12UEL5L",
        "a12uel5l",
        "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
        "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
        "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
        "?1ezyfcl",
    ],
)
def test_bech32_bip173_valid(text: str) -> None:
    hrp, data = bech32.decode(text)
    assert bech32.encode(hrp, data) == text


@pytest.mark.parametrize(
    "text",
    [
        "\x201nwldj5",  # HRP character out of range
        "\x7f1axkwrx",
        "pzry9x0s0muk",  # no separator
        "1pzry9x0s0muk",  # empty HRP
        "x1b4n0q5v",  # invalid data character
        "li1dgmt3",  # too short checksum
        "de1lg7wt\xff",  # invalid character in checksum
        "A1G7SGD8",  # checksum calculated with upper-case HRP
        "10a06t8",  # empty HRP
        "1qzzfhee",  # empty HRP
        "a12UEL5L",  # mixed case
        "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxv",  # checksum error
        # bech32m checksum of "a" (valid bech32m, but age uses bech32)
        "a1lqfn3a",
    ],
)
def test_bech32_invalid(text: str) -> None:
    with pytest.raises(bech32.Bech32Error):
        bech32.decode(text)


@HYPOTHESIS
@given(hrp=st.sampled_from(["age", "AGE-SECRET-KEY-", "x"]), data=st.binary(max_size=64))
def test_bech32_round_trip(hrp: str, data: bytes) -> None:
    assert bech32.decode(bech32.encode(hrp, data)) == (hrp, data)


# --- streaming memory --------------------------------------------------------------------


def test_streaming_decrypt_memory_is_bounded() -> None:
    """20 MiB through Encryptor -> Decryptor in 1 MiB pieces; nothing accumulates."""
    total = 20 * 1024 * 1024
    piece = os.urandom(1024 * 1024)
    encryptor = Encryptor([RECIPIENT])
    decryptor = Decryptor([IDENTITY])
    released = 0
    pending = bytearray(encryptor.header())

    def push(ciphertext: bytes) -> None:
        nonlocal released
        pending.extend(ciphertext)
        while len(pending) >= 1024 * 1024:
            chunks = decryptor.feed(bytes(pending[: 1024 * 1024]))
            del pending[: 1024 * 1024]
            released += sum(map(len, chunks))
            assert decryptor.buffered < ENCRYPTED_CHUNK_SIZE  # less than one chunk held
            assert all(len(c) == CHUNK_SIZE for c in chunks)

    tracemalloc.start()
    try:
        for _ in range(total // len(piece)):
            push(encryptor.update(piece))
        push(encryptor.finalize())
        chunks = decryptor.feed(bytes(pending)) + decryptor.close()
        released += sum(map(len, chunks))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert released == total
    # Pieces in flight (~1 MiB plaintext, ~1 MiB ciphertext, the output chunks) plus
    # at most a couple of chunks inside the engines; far below the 20 MiB streamed.
    assert peak < 8 * 1024 * 1024, peak
