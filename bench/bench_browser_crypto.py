"""Browser encryption speed (the `age-encryption` bundle in Debian Chromium) vs the age CLI.

The page is served from loopback (a secure context, as WebCrypto requires); it encrypts
N MiB generated in memory as a stream and discards the output. The CLI encrypts the
same amount from a file to /dev/null. Measured in one run; prints MB/s and the ratio.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "workspace" / "static" / "dist" / "age.js"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PAGE = """<!doctype html><meta charset="utf-8"><title>bench</title>
<script type="module">
import { Encrypter } from "./age.js";
window.runBench = async (recipient, mib) => {
  const chunk = new Uint8Array(1024 * 1024);
  for (let i = 0; i < chunk.length; i += 65536) {
    crypto.getRandomValues(chunk.subarray(i, i + 65536));
  }
  let sent = 0;
  const source = new ReadableStream({
    pull(controller) {
      if (sent >= mib) { controller.close(); return; }
      sent += 1;
      controller.enqueue(chunk.slice());
    },
  });
  const e = new Encrypter();
  e.addRecipient(recipient);
  const start = performance.now();
  const out = await e.encrypt(source);
  const reader = out.getReader();
  let total = 0;
  for (;;) { const { done, value } = await reader.read(); if (done) break; total += value.length; }
  return { seconds: (performance.now() - start) / 1000, bytes: total };
};
window.benchReady = true;
</script>"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=256)
    args = parser.parse_args()
    chromium = shutil.which("chromium")
    age = shutil.which("age")
    if not (chromium and age and BUNDLE.exists()):
        print("needs chromium, age and the bundle (apt-get install -y chromium age; make assets)")
        return
    import sys

    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT))
    from documents.crypto import generate_identity

    _identity, recipient = generate_identity()
    site = Path(tempfile.mkdtemp(prefix="bench-browser-"))
    (site / "index.html").write_text(PAGE)
    shutil.copy(BUNDLE, site / "age.js")
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/index.html"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(url)
            page.wait_for_function("window.benchReady === true")
            result = page.evaluate("([r, n]) => window.runBench(r, n)", [recipient, args.size_mib])
            browser.close()
    finally:
        server.shutdown()
    browser_mbs = args.size_mib * 1.048576 / result["seconds"]

    plain = site / "plain.bin"
    with plain.open("wb") as f:
        block = bytes(1024 * 1024)
        for _ in range(args.size_mib):
            f.write(block)
    start = time.perf_counter()
    subprocess.run([age, "-r", recipient, "-o", "/dev/null", str(plain)], check=True)
    cli_mbs = args.size_mib * 1.048576 / (time.perf_counter() - start)
    shutil.rmtree(site)
    print(f"browser encryption (Chromium, age-encryption bundle), {args.size_mib} MiB")
    print(f"  browser {browser_mbs:8.1f} MB/s")
    print(f"  age CLI {cli_mbs:8.1f} MB/s")
    print(f"  ratio browser/CLI = {browser_mbs / cli_mbs:.3f}x")


if __name__ == "__main__":
    main()
