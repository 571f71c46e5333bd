"""``modellint server`` driven over stdio with real LSP JSON-RPC messages.

The server runs as a subprocess (``python -m modellint server``); a reader thread parses its
``Content-Length`` framed messages into a queue so every wait has a timeout and the test can
never hang; the process is killed in any case at the end.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytest.importorskip("pygls", reason="pygls is not installed (pip install 'modellint[lsp]')")

TIMEOUT = 60.0

TIGHT_CLIP = "trainer:\n  max_epochs: 100\n  gradient_clip_val: 0.2\n"
ADAM_CLIP = "optimizer: {type: AdamW, lr: 1.0e-4}\ngrad_clip: 0.1\n"
TINY_LR_PY = (
    "import torch\n"
    "\n"
    "def make_optimizer(model):\n"
    "    return torch.optim.SGD(model.parameters(), lr=1e-10, momentum=0.9)\n"
)
# 😀 is one code point but two UTF-16 code units: LSP positions count UTF-16 units by default.
EMOJI_CLIP = 'trainer: {tag: "😀", gradient_clip_val: 0.2}\n'


class LspClient:
    def __init__(self, cwd: Path):
        env = dict(os.environ, NO_COLOR="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "modellint", "server"], cwd=str(cwd), env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.messages: "queue.Queue" = queue.Queue()
        self.stderr: list = []
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr), daemon=True).start()

    def _read(self) -> None:
        stream = self.proc.stdout
        while True:
            headers = {}
            while True:
                line = stream.readline()
                if not line:
                    self.messages.put(None)  # EOF
                    return
                line = line.strip()
                if not line:
                    break
                key, _, value = line.decode("ascii").partition(":")
                headers[key.strip().lower()] = value.strip()
            body = stream.read(int(headers["content-length"]))
            self.messages.put(json.loads(body.decode("utf-8")))

    def send(self, payload: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **payload}).encode("utf-8")
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def notify(self, method: str, params: dict) -> None:
        self.send({"method": method, "params": params})

    def request(self, method: str, params) -> dict:
        self.next_id += 1
        self.send({"id": self.next_id, "method": method, "params": params})
        reply = self.wait(lambda m: m.get("id") == self.next_id and "method" not in m)
        assert "error" not in reply, reply
        return reply["result"]

    def wait(self, predicate, timeout: float = TIMEOUT) -> dict:
        """The next message satisfying ``predicate``; server requests are answered, other messages skipped."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for the server; stderr:\n{b''.join(self.stderr).decode(errors='replace')}")
            try:
                message = self.messages.get(timeout=remaining)
            except queue.Empty:
                continue
            if message is None:
                raise AssertionError(f"the server exited; stderr:\n{b''.join(self.stderr).decode(errors='replace')}")
            if "method" in message and "id" in message:  # a request from the server (e.g. registration)
                self.send({"id": message["id"], "result": None})
            if predicate(message):
                return message

    def diagnostics(self, uri: str) -> dict:
        return self.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri)["params"]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=TIMEOUT)


@pytest.fixture
def client(tmp_path):
    lsp = LspClient(tmp_path)
    try:
        result = lsp.request("initialize", {
            "processId": os.getpid(),
            "rootUri": tmp_path.as_uri(),
            "capabilities": {
                "general": {"positionEncodings": ["utf-16"]},
                "textDocument": {"publishDiagnostics": {"relatedInformation": True, "versionSupport": True},
                                 "synchronization": {"didSave": True}},
            },
            "clientInfo": {"name": "modellint-tests"},
        })
        sync = result["capabilities"]["textDocumentSync"]
        assert sync["openClose"] is True and sync["change"] == 2  # incremental
        assert sync.get("save") not in (None, False)
        assert result["serverInfo"]["name"] == "modellint"
        lsp.notify("initialized", {})
        yield lsp
    finally:
        lsp.close()


def _open(lsp, path: Path, language: str, text: str, version: int = 1) -> str:
    uri = path.as_uri()
    lsp.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": language, "version": version, "text": text}})
    return uri


def test_yaml_diagnostics_on_open_change_save_close(client, tmp_path):
    path = tmp_path / "configs" / "vae.yaml"  # never written to disk: the buffer is what is linted
    uri = _open(client, path, "yaml", TIGHT_CLIP)
    published = client.diagnostics(uri)
    (diag,) = published["diagnostics"]
    assert diag["code"] == "ML104"
    assert diag["source"] == "modellint"
    assert diag["severity"] == 2  # Warning
    assert diag["range"] == {"start": {"line": 2, "character": 21}, "end": {"line": 2, "character": 24}}
    assert "gradient clipping max-norm 0.2" in diag["message"] and "help:" in diag["message"]
    assert diag["codeDescription"]["href"].endswith("#ml104-tight-gradient-clipping")

    # an unsaved edit that fixes it: 0.2 → 1.0 (incremental change)
    client.notify("textDocument/didChange", {
        "textDocument": {"uri": uri, "version": 2},
        "contentChanges": [{"range": {"start": {"line": 2, "character": 21}, "end": {"line": 2, "character": 24}}, "text": "1.0"}],
    })
    published = client.diagnostics(uri)
    assert published["diagnostics"] == []
    assert published.get("version") == 2

    # break it again and save
    client.notify("textDocument/didChange", {
        "textDocument": {"uri": uri, "version": 3},
        "contentChanges": [{"range": {"start": {"line": 2, "character": 21}, "end": {"line": 2, "character": 24}}, "text": "0.05"}],
    })
    assert [d["code"] for d in client.diagnostics(uri)["diagnostics"]] == ["ML104"]
    client.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
    (diag,) = client.diagnostics(uri)["diagnostics"]
    assert "0.05" in diag["message"]
    assert diag["range"]["end"] == {"line": 2, "character": 25}

    client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    assert client.diagnostics(uri)["diagnostics"] == []


def test_python_document(client, tmp_path):
    uri = _open(client, tmp_path / "src" / "optim.py", "python", TINY_LR_PY)
    (diag,) = client.diagnostics(uri)["diagnostics"]
    assert (diag["code"], diag["severity"], diag["source"]) == ("ML102", 1, "modellint")  # Error
    assert diag["range"]["start"]["line"] == 3
    col = TINY_LR_PY.splitlines()[3].index("1e-10")
    assert diag["range"]["start"]["character"] == col and diag["range"]["end"]["character"] == col + len("1e-10")


def test_info_with_related_information(client, tmp_path):
    uri = _open(client, tmp_path / "configs" / "detr.yaml", "yaml", ADAM_CLIP)
    (diag,) = client.diagnostics(uri)["diagnostics"]
    assert (diag["code"], diag["severity"]) == ("ML104", 3)  # Information
    (related,) = diag["relatedInformation"]
    assert related["location"]["uri"] == uri
    assert related["location"]["range"]["start"]["line"] == 0
    assert "AdamW" in related["message"]


def test_positions_are_utf16(client, tmp_path):
    uri = _open(client, tmp_path / "configs" / "emoji.yaml", "yaml", EMOJI_CLIP)
    (diag,) = client.diagnostics(uri)["diagnostics"]
    code_points = EMOJI_CLIP.index("0.2")
    assert diag["range"]["start"] == {"line": 0, "character": code_points + 1}  # the emoji counts twice


def test_language_id_decides_for_unknown_extensions_and_other_files_are_ignored(client, tmp_path):
    ignored = _open(client, tmp_path / "NOTES.txt", "plaintext", "gradient_clip_val: 0.2\n")
    untitled = "untitled:Untitled-1"
    client.notify("textDocument/didOpen", {"textDocument": {"uri": untitled, "languageId": "yaml", "version": 1, "text": TIGHT_CLIP}})
    first = client.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics")["params"]
    assert first["uri"] == untitled != ignored  # nothing was published for the text file
    assert [d["code"] for d in first["diagnostics"]] == ["ML104"]


def test_shutdown_and_exit(client):
    assert client.request("shutdown", None) is None
    client.notify("exit", None)
    assert client.proc.wait(timeout=TIMEOUT) == 0


def test_server_without_pygls_says_how_to_install(tmp_path):
    """With pygls hidden, ``modellint server`` prints one line naming the extra and exits 2."""
    # sys.modules[name] = None makes both `import` and importlib.util.find_spec treat it as absent
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['pygls'] = None\nsys.modules['lsprotocol'] = None\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
    run = subprocess.run([sys.executable, "-m", "modellint", "server"], cwd=str(tmp_path), env=env,
                         capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0
    assert "pip install 'modellint[lsp]'" in run.stderr
