"""``modellint server``: a Language Server (LSP over stdio) that publishes diagnostics.

Every open Python, YAML, JSON, TOML or shell document is linted from its buffer text
(unsaved edits included) on open, change and save, with the same engine and settings as
``modellint check`` (the ``pyproject.toml`` found from the document's directory upwards).
Cross-file rules see only that buffer, plus whatever facts it carries itself.

Needs ``pygls`` (``pip install 'modellint[lsp]'``); the CLI imports this module lazily.
"""

from __future__ import annotations

import logging
import os
from typing import Dict, List, Optional, Tuple
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.workspace.position_codec import ServerTextPosition, ServerTextRange

from modellint import __version__, engine
from modellint.discovery import display_path
from modellint.parsing.source import KINDS, kind_of

log = logging.getLogger(__name__)

SOURCE = "modellint"
DOCS_URL = "https://github.com/modellint/modellint/blob/main/docs/rules.md"
SEVERITY = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "info": types.DiagnosticSeverity.Information,
}
# LSP languageId → modellint kind, for buffers whose name has no telling extension (untitled, "Jenkinsfile"...).
LANGUAGE_KINDS = {"python": "python", "yaml": "yaml", "json": "json", "jsonc": "json", "toml": "toml",
                  "shellscript": "shell", "sh": "shell", "bash": "shell"}
_EXTENSION = {kind: ext for ext, kind in reversed(list(KINDS.items()))}  # kind → first extension


def uri_to_path(uri: str) -> str:
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return url2pathname(unquote(parsed.path))
    # untitled:Untitled-1 and the like: a name in the working directory
    return os.path.join(os.getcwd(), os.path.basename(unquote(parsed.path or parsed.netloc or "untitled")))


def path_to_uri(path: str) -> str:
    from pathlib import Path

    return Path(os.path.abspath(path)).as_uri()


def lint_filename(uri: str, language_id: Optional[str]) -> Optional[str]:
    """The file name to lint the buffer as, or None when modellint does not read this kind of file."""
    path = uri_to_path(uri)
    if kind_of(path):
        return path
    kind = LANGUAGE_KINDS.get((language_id or "").lower())
    return path + _EXTENSION[kind] if kind else None


def _settings_for(path: str):
    from modellint.settings import Settings, UsageError, find_config, load_settings

    try:
        return load_settings(find_config([os.path.dirname(path) or "."])), None
    except UsageError as exc:
        return Settings(), f"modellint: error in the configuration, using defaults: {exc}"


def lint_text(text: str, filename: str) -> Tuple[list, Optional[str]]:
    """Findings for ``text`` linted as ``filename`` (only those located in that file), and a config error."""
    settings, problem = _settings_for(filename)
    result = engine.run([filename], settings, jobs=1, stdin=engine.StdinInput(text.encode("utf-8"), filename))
    own = display_path(filename)
    return [f for f in result.findings if f.path == own], problem


class ModellintServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("modellint", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.languages: Dict[str, Optional[str]] = {}  # uri → languageId from didOpen
        self.reported_config_errors: set = set()

    def _range(self, document, line: int, column: int, end_line: int, end_column: int) -> types.Range:
        """modellint's 1-based code-point line/column → the client's 0-based units (UTF-16 by default)."""
        lines = document.lines
        last = max(0, len(lines) - 1)

        def pos(ln: int, col: int) -> ServerTextPosition:
            ln = min(max(0, ln - 1), last)
            text = lines[ln].rstrip("\r\n") if lines else ""
            return ServerTextPosition(line=ln, character=min(max(0, col - 1), len(text)))

        start = pos(line, column)
        end = pos(end_line, end_column)
        if end < start:
            end = start
        return document.range_to_client_units(ServerTextRange(start=start, end=end))

    def diagnostics_for(self, uri: str) -> Optional[List[types.Diagnostic]]:
        document = self.workspace.get_text_document(uri)
        filename = lint_filename(uri, self.languages.get(uri) or getattr(document, "language_id", None))
        if filename is None:
            return None
        findings, problem = lint_text(document.source, filename)
        if problem and problem not in self.reported_config_errors:
            self.reported_config_errors.add(problem)
            self.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning, message=problem))
        diagnostics = []
        for f in findings:
            related = [
                types.DiagnosticRelatedInformation(
                    location=types.Location(
                        uri=uri if r.path == f.path else path_to_uri(r.path),
                        range=types.Range(start=types.Position(line=max(0, r.line - 1), character=max(0, r.column - 1)),
                                          end=types.Position(line=max(0, r.line - 1), character=max(0, r.column - 1))),
                    ),
                    message=r.message,
                )
                for r in f.related
            ]
            diagnostics.append(types.Diagnostic(
                range=self._range(document, f.line, f.column, f.end_line, f.end_column),
                message=f"{f.message}\nhelp: {f.help}" if f.help else f.message,
                severity=SEVERITY[f.severity],
                code=f.code,
                code_description=types.CodeDescription(href=f"{DOCS_URL}#{f.code.lower()}-{f.name}"),
                source=SOURCE,
                related_information=related or None,
            ))
        return diagnostics

    def publish(self, uri: str) -> None:
        try:
            diagnostics = self.diagnostics_for(uri)
        except Exception as exc:  # never take the editor session down with one buffer
            log.exception("modellint failed on %s", uri)
            self.window_log_message(types.LogMessageParams(type=types.MessageType.Error,
                                                           message=f"modellint failed on {uri}: {type(exc).__name__}: {exc}"))
            return
        if diagnostics is None:
            return
        version = self.workspace.get_text_document(uri).version
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=version))


server = ModellintServer()


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: ModellintServer, params: types.DidOpenTextDocumentParams) -> None:
    ls.languages[params.text_document.uri] = params.text_document.language_id
    ls.publish(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: ModellintServer, params: types.DidChangeTextDocumentParams) -> None:
    ls.publish(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: ModellintServer, params: types.DidSaveTextDocumentParams) -> None:
    ls.publish(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: ModellintServer, params: types.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    ls.languages.pop(uri, None)
    ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))


def serve() -> None:
    """Speak LSP on stdin/stdout until the client sends ``exit``."""
    server.start_io()
