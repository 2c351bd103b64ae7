"""Testing a source's webhooks the way a platform delivers them: through `clientela serve`.

    with serving(tmp_path, env={"CLIENTELA_LOAD_PLUGINS": "my-plugin"}) as server:
        answer = server.deliver("my_source", body, {"X-My-Topic": "customer.updated"},
                                secret="...")
        assert answer.status_code == 200
    # the server was stopped with SIGTERM, so every accepted delivery is applied

`serving` starts the real command in a subprocess in `folder` (which holds
the `clientela.toml`), on a port the OS picks, and stops it cleanly on exit.
`deliver` signs the raw body with the source's declared scheme and header.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from clientela.webhooks.signatures import sign

SERVE_SCRIPT = """
import typer
from clientela.cli.serve import register

app = typer.Typer()
register(app)
app()
"""


@dataclass
class RunningServe:
    url: str
    process: subprocess.Popen[bytes]

    def deliver(self, source: str, body: bytes, headers: Mapping[str, str], *,
                secret: str) -> requests.Response:
        """POST `body` to `/webhooks/<source>`, signed as the source's declaration says."""
        from clientela.plugins import registry

        spec = registry().get("source", source).webhook
        if spec is None:
            raise ValueError(f"source {source!r} declares no webhook")
        signed = {**headers, spec.signature_header: sign(secret, body, spec.encoding)}
        return requests.post(f"{self.url}/webhooks/{source}", data=body, headers=signed,
                             timeout=30)

    def stop(self) -> int:
        """SIGTERM: the receiver flushes its spool and applies what is left, then exits."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


@contextmanager
def serving(folder: Path, *options: str, env: Mapping[str, str] | None = None
            ) -> Iterator[RunningServe]:
    """`clientela serve --port 0 *options` in `folder`, until the block ends (then stopped)."""
    script = folder / "_clientela_serve.py"
    script.write_text(SERVE_SCRIPT)
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **(env or {})}
    process = subprocess.Popen([sys.executable, str(script), "--port", "0", *options],
                               cwd=folder, env=environment, stderr=subprocess.PIPE,
                               stdout=subprocess.DEVNULL)
    assert process.stderr is not None
    url, seen = None, []
    for line in process.stderr:
        seen.append(line)
        found = re.search(rb"running on (http://127\.0\.0\.1:\d+)", line)
        if found:
            url = found.group(1).decode()
            break
    if url is None:
        process.wait()
        raise RuntimeError("clientela serve did not start:\n" + b"".join(seen).decode(
            "utf-8", "replace")[-2_000:])
    threading.Thread(target=process.stderr.read, daemon=True).start()  # never block its log
    running = RunningServe(url, process)
    try:
        yield running
    finally:
        running.stop()
