"""`make bench`: run every benchmark script in bench/ and print its report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    failed = 0
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"\n== {script.name} ==", flush=True)
        result = subprocess.run([sys.executable, str(script)], cwd=HERE.parent)  # noqa: S603
        failed += result.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
