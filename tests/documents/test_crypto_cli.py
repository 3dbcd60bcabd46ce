"""Interoperability with the reference `age` command-line tool (FiloSottile/age)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from documents.crypto import (
    decrypt,
    encrypt,
    encrypt_stream,
    generate_identity,
    identity_to_recipient,
    parse_header,
    rewrap_file_header,
    rewrap_header,
)
from tests.conftest import require_tool

SIZES = [0, 1, 65535, 65536, 65537, 3 * 65536, 3 * 1024 * 1024 + 7]


@pytest.fixture(scope="module")
def age_cli() -> str:
    return require_tool("age", "install it with: apt-get install -y age")


@pytest.fixture(scope="module")
def keypair(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, Path]:
    identity, recipient = generate_identity()
    keyfile = tmp_path_factory.mktemp("keys") / "key.txt"
    keyfile.write_text(f"# public key: {recipient}\n{identity}\n")
    keyfile.chmod(0o600)
    return identity, recipient, keyfile


def cli(*args: str, data: bytes) -> bytes:
    result = subprocess.run(args, input=data, capture_output=True, check=False)  # noqa: S603 - fixed argv, no shell
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout


def payload(size: int) -> bytes:
    return os.urandom(size)


@pytest.mark.parametrize("size", SIZES)
def test_ours_to_cli(age_cli: str, keypair: tuple[str, str, Path], size: int) -> None:
    _, recipient, keyfile = keypair
    plaintext = payload(size)
    ciphertext = encrypt(plaintext, [recipient])
    assert cli(age_cli, "-d", "-i", str(keyfile), data=ciphertext) == plaintext


@pytest.mark.parametrize("size", SIZES)
def test_cli_to_ours(age_cli: str, keypair: tuple[str, str, Path], size: int) -> None:
    identity, recipient, _ = keypair
    plaintext = payload(size)
    ciphertext = cli(age_cli, "-r", recipient, data=plaintext)
    assert decrypt(ciphertext, [identity]) == plaintext


def test_cli_multiple_recipients(age_cli: str, keypair: tuple[str, str, Path]) -> None:
    identity, recipient, _ = keypair
    other_identity, other_recipient = generate_identity()
    plaintext = payload(100_000)
    ciphertext = cli(age_cli, "-r", other_recipient, "-r", recipient, data=plaintext)
    assert decrypt(ciphertext, [identity]) == plaintext
    assert decrypt(ciphertext, [other_identity]) == plaintext


def test_ours_stream_to_cli(age_cli: str, keypair: tuple[str, str, Path], tmp_path: Path) -> None:
    _, recipient, keyfile = keypair
    plaintext = payload(2 * 1024 * 1024 + 3)
    src, dst = tmp_path / "plain", tmp_path / "plain.age"
    src.write_bytes(plaintext)
    with src.open("rb") as fin, dst.open("wb") as fout:
        written = encrypt_stream(fin, fout, [recipient], read_size=100_000)
    assert written == dst.stat().st_size
    assert cli(age_cli, "-d", "-i", str(keyfile), data=dst.read_bytes()) == plaintext


@pytest.mark.parametrize("size", [0, 65536, 3 * 65536 + 5])
def test_rewrap_then_cli(age_cli: str, tmp_path: Path, size: int) -> None:
    identity_a, recipient_a = generate_identity()
    identity_b, recipient_b = generate_identity()
    keyfile_b = tmp_path / "b.txt"
    keyfile_b.write_text(identity_b + "\n")
    plaintext = payload(size)
    old_file = encrypt(plaintext, [recipient_a])

    new_header, old_length = rewrap_file_header(old_file[:4096], identity_a, [recipient_b])
    new_file = new_header + old_file[old_length:]
    # The payload (nonce + chunks) is untouched; only the header changed.
    assert new_file[len(new_header) :] == old_file[old_length:]
    assert new_header != old_file[:old_length]
    assert (
        rewrap_header(old_file[:old_length], old_identity=identity_a, new_recipients=[recipient_b])
        != new_header
    )  # fresh ephemeral shares every time

    assert cli(age_cli, "-d", "-i", str(keyfile_b), data=new_file) == plaintext
    keyfile_a = tmp_path / "a.txt"
    keyfile_a.write_text(identity_a + "\n")
    result = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [age_cli, "-d", "-i", str(keyfile_a)], input=new_file, capture_output=True, check=False
    )
    assert result.returncode != 0, "the old key must no longer open the rewrapped file"


def test_rewrap_cli_file(age_cli: str, tmp_path: Path) -> None:
    """Rewrap a file produced by the CLI; the CLI can still read it with the new key."""
    identity_a, recipient_a = generate_identity()
    identity_b, recipient_b = generate_identity()
    keyfile_b = tmp_path / "b.txt"
    keyfile_b.write_text(identity_b + "\n")
    plaintext = payload(200_000)
    old_file = cli(age_cli, "-r", recipient_a, data=plaintext)
    _, old_length = parse_header(old_file)
    new_header, length = rewrap_file_header(
        old_file[:old_length], identity_a, [recipient_b, identity_to_recipient(identity_a)]
    )
    assert length == old_length
    new_file = new_header + old_file[old_length:]
    assert cli(age_cli, "-d", "-i", str(keyfile_b), data=new_file) == plaintext
    assert decrypt(new_file, [identity_a]) == plaintext
