"""Benchmark documents.crypto (pure Python age) against the `age` CLI.

    .venv/bin/python bench/bench_crypto.py [--size-mib N] [--repeat R]

Ours: encrypt N MiB generated in memory (1 MiB pieces) into a discarding sink,
and decrypt a ciphertext file read in 1 MiB pieces into a discarding sink
(streaming, constant memory). CLI: `age -r` / `age -d -i` with stdin from a
temporary file and stdout to /dev/null. Both decrypt the same ciphertext
(produced by the CLI). The best of R runs is reported.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from documents.crypto import Decryptor, Encryptor, generate_identity  # noqa: E402

MIB = 1024 * 1024


def best_of(repeat: int, run: Callable[[], int]) -> tuple[float, int]:
    """Best wall time over `repeat` runs, and what the run returned."""
    best = float("inf")
    result = 0
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def ours_encrypt(piece: bytes, count: int, recipient: str) -> int:
    encryptor = Encryptor([recipient])
    written = len(encryptor.header())
    for _ in range(count):
        for chunk in encryptor.update_chunks(piece):
            written += len(chunk)  # the sink: discard
    return written + len(encryptor.finalize())


def ours_encrypt_file(path: Path, recipient: str) -> int:
    encryptor = Encryptor([recipient])
    written = len(encryptor.header())
    buffer = bytearray(MIB)
    view = memoryview(buffer)
    with path.open("rb", buffering=0) as src:
        while size := src.readinto(buffer):
            for chunk in encryptor.update_chunks(view[:size]):
                written += len(chunk)
    return written + len(encryptor.finalize())


def ours_decrypt(path: Path, identity: str) -> int:
    decryptor = Decryptor([identity])
    released = 0
    buffer = bytearray(MIB)  # reused: feed() copies nothing it keeps from the caller
    view = memoryview(buffer)
    with path.open("rb", buffering=0) as src:
        while size := src.readinto(buffer):
            for chunk in decryptor.feed(view[:size]):
                released += len(chunk)
    for chunk in decryptor.close():
        released += len(chunk)
    return released


def cli(argv: list[str], stdin: Path, stdout: Path | None = None) -> int:
    with stdin.open("rb") as src, stdout.open("wb") if stdout else open(os.devnull, "wb") as dst:
        subprocess.run(argv, stdin=src, stdout=dst, check=True)  # noqa: S603 - fixed argv, no shell
    return 0


def verify(path: Path, identity: str, expected_sha256: str) -> None:
    digest = hashlib.sha256()
    decryptor = Decryptor([identity])
    with path.open("rb") as src:
        while piece := src.read(MIB):
            for chunk in decryptor.feed(piece):
                digest.update(chunk)
    for chunk in decryptor.close():
        digest.update(chunk)
    if digest.hexdigest() != expected_sha256:
        raise SystemExit("verification failed: decrypted plaintext differs")


def report(name: str, seconds: float, size: int) -> float:
    rate = size / seconds / 1e6
    print(f"  {name:<34} {seconds:8.3f} s  {rate:9.1f} MB/s")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="payload size (default 1024)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (best kept)")
    parser.add_argument("--tmpdir", default=None, help="where to put the temporary files")
    parser.add_argument("--no-verify", action="store_true", help="skip the correctness pass")
    args = parser.parse_args()

    age = shutil.which("age")
    if age is None:
        raise SystemExit("the age CLI is required: apt-get install -y age")
    version = subprocess.run([age, "--version"], capture_output=True, text=True, check=True)  # noqa: S603
    size = args.size_mib * MIB
    piece = os.urandom(MIB)
    identity, recipient = generate_identity()

    with tempfile.TemporaryDirectory(dir=args.tmpdir) as tmp:
        tmpdir = Path(tmp)
        plain, sealed, keyfile = tmpdir / "plain", tmpdir / "plain.age", tmpdir / "key.txt"
        keyfile.write_text(identity + "\n")
        digest = hashlib.sha256()
        with plain.open("wb") as out:
            for _ in range(args.size_mib):
                out.write(piece)
                digest.update(piece)
        cli([age, "-r", recipient], plain, sealed)

        print(
            f"payload {args.size_mib} MiB, best of {args.repeat}; age CLI {version.stdout.strip()}"
        )
        print(f"python {sys.version.split()[0]}")
        print("encrypt")
        t, n = best_of(args.repeat, lambda: ours_encrypt(piece, args.size_mib, recipient))
        assert n == size + (size // (64 * 1024)) * 16 + len(Encryptor([recipient]).header())
        ours_enc = report("ours (1 MiB pieces in memory)", t, size)
        t, _ = best_of(args.repeat, lambda: ours_encrypt_file(plain, recipient))
        ours_enc_file = report("ours (from the temp file)", t, size)
        t, _ = best_of(args.repeat, lambda: cli([age, "-r", recipient], plain))
        cli_enc = report("age -r (temp file -> /dev/null)", t, size)
        print("decrypt (same CLI-made ciphertext)")
        t, n = best_of(args.repeat, lambda: ours_decrypt(sealed, identity))
        assert n == size
        ours_dec = report("ours (temp file, 1 MiB pieces)", t, size)
        t, _ = best_of(args.repeat, lambda: cli([age, "-d", "-i", str(keyfile)], sealed))
        cli_dec = report("age -d (temp file -> /dev/null)", t, size)
        print("ratio ours / CLI")
        print(f"  encrypt {ours_enc / cli_enc:5.2f}x  (from file: {ours_enc_file / cli_enc:.2f}x)")
        print(f"  decrypt {ours_dec / cli_dec:5.2f}x")
        if not args.no_verify:
            verify(sealed, identity, digest.hexdigest())
            print("verified: ours decrypts the CLI ciphertext to the original plaintext")


if __name__ == "__main__":
    main()
