"""Command line: ``modellint [check] PATHS``, ``rules``, ``rule CODE``."""

from __future__ import annotations

import os
import sys
import time
from typing import Optional

import click

from modellint import __version__
from modellint.findings import SEVERITY_RANK


class _DefaultToCheck(click.Group):
    """``modellint PATHS`` means ``modellint check PATHS`` (as ruff once did)."""

    def parse_args(self, ctx, args):
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h", "--version")):
            args = ["check"] + list(args)
        return super().parse_args(ctx, args)


@click.group(cls=_DefaultToCheck, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="modellint")
def main() -> None:
    """Static linter for deep-learning training code and configs."""


def _use_color(output_file: Optional[str]) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return output_file is None and sys.stdout.isatty()


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "concise", "json", "sarif", "github"]), default="text", show_default=True, help="Output format.")
@click.option("--select", multiple=True, help="Codes or prefixes to enable (comma-separated), replacing the config's select.")
@click.option("--extend-select", multiple=True, help="Codes or prefixes to enable in addition.")
@click.option("--ignore", multiple=True, help="Codes or prefixes to disable (comma-separated).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Read settings from this pyproject.toml.")
@click.option("--no-config", is_flag=True, help="Ignore every pyproject.toml.")
@click.option("--exclude", multiple=True, help="Glob of files or directories to skip (repeatable).")
@click.option("--respect-gitignore/--no-respect-gitignore", default=True, show_default=True, help="Skip files .gitignore ignores.")
@click.option("--instantiate", "instantiate", metavar="TARGET", help="Also build TARGET (path.py:Name or pkg.mod:Name) on the meta device and check it.")
@click.option("--jobs", "-j", type=int, default=None, help="Worker processes (default: CPUs).")
@click.option("--no-cache", is_flag=True, help="Do not read or write the cache.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when findings are reported.")
@click.option("--fail-on", type=click.Choice(["error", "warning", "info"]), default="warning", show_default=True, help="Lowest severity that makes the exit code 1.")
@click.option("--output-file", "-o", type=click.Path(dir_okay=False), help="Write the report to this file.")
@click.option("--show-source/--no-show-source", default=True, show_default=True, help="Show the source line under each finding (text format).")
@click.option("--quiet", "-q", is_flag=True, help="Print findings only: no summary line.")
@click.option("--statistics", is_flag=True, help="Print the number of findings per rule instead of the findings.")
@click.option("--stdin-filename", help="Name of the file read from stdin (with the path '-').")
@click.option("--fix", "apply_fixes", is_flag=True, help="Apply safe fixes in place, then report what remains.")
@click.option("--unsafe-fixes", is_flag=True, help="Also apply (with --fix) or show as available the fixes that change training behaviour.")
@click.option("--diff", "show_diff", is_flag=True, help="Print a unified diff of what --fix would change; change nothing (exit 1 if it would).")
def check(paths, fmt, select, extend_select, ignore, config_file, no_config, exclude, respect_gitignore, instantiate, jobs,
          no_cache, exit_zero, fail_on, output_file, show_source, quiet, statistics, stdin_filename, apply_fixes,
          unsafe_fixes, show_diff) -> None:
    """Lint training code and configs under PATHS (default: .)."""
    from modellint import engine
    from modellint.reporters import ReportContext, render
    from modellint.settings import Settings, UsageError, find_config, load_settings, split_codes

    started = time.perf_counter()
    paths = list(paths) or ["."]
    try:
        if no_config:
            settings = Settings()
        else:
            settings = load_settings(config_file or find_config([p for p in paths if p != "-"] or ["."]))
        if select:
            settings.select = split_codes(select)
        settings.extend_select += split_codes(extend_select)
        settings.ignore += split_codes(ignore)
        settings.exclude = settings.exclude + list(exclude)
        settings.validate()
        request = None
        if instantiate:
            from modellint.instantiate.request import build_request

            request = build_request(instantiate, settings)
        stdin = None
        if paths == ["-"]:
            if not stdin_filename:
                raise UsageError("reading from stdin ('-') needs --stdin-filename NAME so modellint knows the file type")
            stdin = engine.StdinInput(sys.stdin.buffer.read(), stdin_filename)
        elif "-" in paths:
            raise UsageError("'-' (stdin) cannot be combined with other paths")
        if apply_fixes or show_diff:
            import importlib.util

            if stdin is not None:
                raise UsageError("--fix and --diff work on files, not on stdin")
            if importlib.util.find_spec("libcst") is None:
                raise UsageError("fixes need libcst: pip install 'modellint[fix]'")
    except UsageError as exc:
        click.echo(f"modellint: error: {exc}", err=True)
        sys.exit(2)

    jobs = jobs if jobs is not None else (os.cpu_count() or 1)
    cache_dir = None
    if not no_cache and stdin is None:
        from modellint.cache import CACHE_DIR_NAME, Cache

        cache_dir = os.environ.get("MODELLINT_CACHE_DIR") or os.path.join(
            settings.root if settings.config_path else os.getcwd(), CACHE_DIR_NAME)
        try:
            Cache.prepare(cache_dir)
        except OSError:
            cache_dir = None  # a read-only tree still gets linted, just not cached
    outcome = None
    if apply_fixes or show_diff:
        from modellint.fixes import run_fixes

        def lint():  # re-lints changed files from memory; writes happen only after the last pass
            from modellint import filecheck

            # no cache while fixing: the files change under the run
            return engine.run(paths, settings, jobs=1 if filecheck.OVERLAY else max(1, jobs), stdin=stdin,
                              respect_gitignore=respect_gitignore)

        outcome = run_fixes(lint, unsafe=unsafe_fixes)
        for note in outcome.notes:
            click.echo(f"modellint: {note}", err=True)
        if show_diff:
            click.echo(outcome.diff(), nl=False)
            count = outcome.applied
            click.echo(f"Would fix {count} finding{'s' if count != 1 else ''} in {len(outcome.changed)} files."
                       if count else "No fixes available.", err=True)
            sys.exit(1 if outcome.changed else 0)
        outcome.write()
        result = outcome.result
    else:
        result = engine.run(paths, settings, jobs=max(1, jobs), stdin=stdin, respect_gitignore=respect_gitignore,
                            cache_dir=cache_dir)
    if request is not None:
        from modellint.instantiate.stage import apply

        apply(result, request, settings)  # ML6xx findings, verdicts on ML302/ML303; a failure goes to result.errors
    for error in result.errors:
        click.echo(f"modellint: error: {error}", err=True)

    context = ReportContext(
        files_checked=result.files_checked,
        seconds=time.perf_counter() - started,
        color=_use_color(output_file) and fmt == "text",
        show_source=show_source,
        enabled_codes=settings.enabled_codes(),
        unsafe_fixes=unsafe_fixes,
        fixed=outcome.applied if outcome is not None else 0,
    )
    if stdin is not None:
        from modellint.discovery import display_path

        context.texts[display_path(stdin.filename)] = stdin.data.decode("utf-8", errors="replace")
    if statistics:
        text = _statistics(result.findings)
    else:
        text = render(fmt, result.findings, context)
        if quiet and fmt == "text":
            text = text.rsplit("\n", 2)[0] + "\n" if result.findings else ""
    if output_file:
        with open(output_file, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        click.echo(text, nl=False, color=True if context.color else None)  # click strips ANSI on pipes unless told

    if result.errors or result.crashed:
        sys.exit(2)
    if exit_zero:
        sys.exit(0)
    threshold = SEVERITY_RANK[fail_on]
    sys.exit(1 if any(SEVERITY_RANK[f.severity] >= threshold for f in result.findings) else 0)


def _statistics(findings) -> str:
    from collections import Counter

    from modellint import registry

    counts = Counter(f.code for f in findings)
    rules = registry.all_rules()
    lines = [f"{count:5d}  {code}  {rules[code].name}" for code, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return "\n".join(lines) + ("\n" if lines else "")


@main.command("rules")
def rules_command() -> None:
    """List every rule: code, name, severity, summary."""
    from modellint import registry

    for code, cls in registry.all_rules().items():
        click.echo(f"{code}  {cls.name:<40} {cls.severity:<8} {cls.summary}")


@main.command("rule")
@click.argument("code")
def rule_command(code: str) -> None:
    """Show the full documentation of one rule."""
    from modellint import registry
    from modellint.docs import rule_markdown
    from modellint.settings import _closest

    rules = registry.all_rules()
    up = code.upper()
    if up not in rules:
        by_name = {cls.name: c for c, cls in rules.items()}
        if code in by_name:
            up = by_name[code]
        else:
            click.echo(f"modellint: error: unknown rule '{code}'{_closest(up, list(rules)) or _closest(code.lower(), list(by_name))}", err=True)
            sys.exit(2)
    click.echo(rule_markdown(rules[up]))


@main.command("server")
def server_command() -> None:
    """Run the language server (LSP over stdio) for editors; needs pygls."""
    import importlib.util

    if importlib.util.find_spec("pygls") is None or importlib.util.find_spec("lsprotocol") is None:
        click.echo("modellint: error: the language server needs pygls: pip install 'modellint[lsp]'", err=True)
        sys.exit(2)
    from modellint.lsp_server import serve

    serve()


@main.command("inspect")
@click.argument("target", required=False)
@click.option("--kwargs", "kwargs_json", metavar="JSON", help="Constructor arguments as a JSON object.")
@click.option("--kwargs-from", metavar="CONFIG[:KEY]", help="Constructor arguments from a YAML/JSON/TOML/Python config (dotted KEY selects a section).")
@click.option("--depth", type=click.IntRange(min=0), default=1, show_default=True, help="Show submodules down to this depth.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Output format.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None, help="Seconds before the build is stopped [default: 60].")
@click.option("--device", type=click.Choice(["meta", "cpu"]), default=None, help="meta: shapes only, no memory (default); cpu: real tensors.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Read [tool.modellint.instantiate] from this pyproject.toml.")
@click.option("--no-config", is_flag=True, help="Ignore every pyproject.toml.")
def inspect_command(target, kwargs_json, kwargs_from, depth, fmt, timeout, device, config_file, no_config) -> None:
    """Build TARGET (path/to/file.py:Name or package.module:Name) in a child process and print its parameter table."""
    from modellint.instantiate.inspection import run_inspect

    sys.exit(run_inspect(target, kwargs_json=kwargs_json, kwargs_from=kwargs_from, depth=depth, fmt=fmt, timeout=timeout,
                         device=device, config_file=config_file, no_config=no_config, echo=click.echo))


if __name__ == "__main__":  # pragma: no cover
    main()
