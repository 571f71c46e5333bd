"""The child side of instantiation: ``python -m modellint.instantiate.child``.

Reads one JSON request on stdin, imports the target with the project root
and its ``src/`` on ``sys.path`` (the way the project's own scripts see
them), builds it inside ``with torch.device("meta"):`` — parameters get a
shape and no storage, so a 7B-parameter model costs no memory — or on the
CPU when the request asks for it, and writes one JSON report on the stdout
it was started with.

Everything the user's code (and torch) prints goes to stderr, which the
parent discards: the report stays parseable and torch's warnings never
reach modellint's output. Failures (import error, constructor exception,
a target that is not an ``nn.Module``) are part of the report, never a
traceback on the parent's screen.

This module runs inside the user's environment next to their code: it uses
the standard library and torch only, and nothing else of modellint.
"""

import os
import sys

# `python -m` put the working directory (the user's project) first on
# sys.path: drop it until the standard library and torch are imported, so a
# project file named like a stdlib module (inspect.py, ast.py) cannot
# shadow what this module needs. build_report puts the project back.
if sys.path and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

import ast
import importlib
import importlib.util
import inspect
import json
import linecache
import re
import time
import traceback
import warnings

SCHEMA = 1
MAX_SCAN = 10000  # container items looked at per attribute
MAX_NESTING = 4  # plain containers inside plain containers
_CONTAINERS = (list, tuple, dict, set, frozenset)
_HERE = os.path.dirname(os.path.abspath(__file__))
_PACKAGE_DIR = os.path.dirname(_HERE)


def main() -> None:
    out_fd = os.dup(1)
    os.dup2(2, 1)  # from here on, anything printed goes to stderr
    try:
        request = json.loads(sys.stdin.read() or "{}")
        report = build_report(request)
    except BaseException as exc:  # the child must always answer
        report = {"schema": SCHEMA, "status": "error",
                  "error": {"kind": "internal-error", "message": f"{type(exc).__name__}: {exc}",
                            "exception": _exception_line(exc)}}
    with os.fdopen(out_fd, "w", encoding="utf-8") as out:
        out.write(json.dumps(report, default=str))
        out.write("\n")
        out.flush()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    # Skip interpreter teardown: user modules may start threads or hold
    # handles that make a normal exit slow or noisy.
    os._exit(0)


# -- request ---------------------------------------------------------------
class _Failure(Exception):
    def __init__(self, error: dict):
        super().__init__(error.get("message", ""))
        self.error = error


def build_report(request: dict) -> dict:
    started = time.perf_counter()
    warnings.simplefilter("ignore")
    root = os.path.abspath(request.get("project_root") or os.getcwd())
    project = _Project(root, request.get("target_file"))
    report = {"schema": SCHEMA, "status": "error", "target": request.get("target", ""),
              "project_root": root, "device": request.get("device", "meta")}
    try:
        import torch
        from torch import nn
    except ImportError as exc:
        report["error"] = {"kind": "torch-missing", "message": str(exc)}
        return report
    warnings.simplefilter("ignore")  # torch may have added its own filters
    for entry in reversed([root, os.path.join(root, "src")]):
        if os.path.isdir(entry) and entry not in sys.path:
            sys.path.insert(0, entry)
    report["torch_version"] = str(torch.__version__).split("+")[0]
    try:
        target = _load_target(request, project)
        report["definition"] = _definition(target)
        tracer = _Tracer(project) if request.get("probes") else None
        model, how = _build(target, request, torch, nn, project, tracer)
    except _Failure as failure:
        report["error"] = failure.error
        report["seconds"] = round(time.perf_counter() - started, 3)
        report["peak_rss_mb"] = _peak_rss_mb()
        return report
    report["status"] = "ok"
    report["built"] = how
    report["class"] = type(model).__name__
    report["qualified_class"] = f"{type(model).__module__}.{type(model).__qualname__}"
    if how == "instance" or not report.get("definition"):
        report["definition"] = _definition(type(model)) or report.get("definition")
    describer = _Describer(model, nn, project)
    report["depth"] = int(request.get("depth", 1))
    report.update(describer.describe(report["depth"]))
    report["unregistered"] = describer.unregistered()
    report["probes"] = [describer.probe(p, tracer, request) for p in request.get("probes", [])]
    report["seconds"] = round(time.perf_counter() - started, 3)
    report["peak_rss_mb"] = _peak_rss_mb()
    return report


class _Project:
    """Which files are the user's: below the project root, outside any
    installed-packages directory and outside modellint itself."""

    def __init__(self, root: str, target_file):
        self.root = root
        self.target_file = os.path.abspath(target_file) if target_file else None
        self._cache = {}

    def owns(self, filename: str) -> bool:
        known = self._cache.get(filename)
        if known is not None:
            return known
        absolute = os.path.abspath(filename) if filename and not filename.startswith("<") else ""
        result = bool(absolute) and (
            absolute == self.target_file
            or (_under(absolute, self.root)
                and not _under(absolute, _PACKAGE_DIR)
                and not any(part in ("site-packages", "dist-packages") for part in absolute.split(os.sep))))
        self._cache[filename] = result
        return result


def _under(path: str, directory: str) -> bool:
    try:
        return os.path.commonpath([path, directory]) == directory
    except ValueError:  # different drives
        return False


# -- import ------------------------------------------------------------------
def _load_target(request: dict, project: _Project):
    name = request["name"]
    try:
        if request.get("target_file"):
            module = _import_file(os.path.abspath(request["target_file"]), project.root)
        else:
            module = importlib.import_module(request["module"])
    except _Failure:
        raise
    except BaseException as exc:
        raise _Failure(_exception_error("import-error", exc, project)) from None
    obj = module
    for part in name.split("."):
        if not hasattr(obj, part):
            choices = [n for n in dir(obj) if not n.startswith("_")]
            import difflib

            close = difflib.get_close_matches(part, choices, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            where = getattr(module, "__file__", None)
            raise _Failure({"kind": "bad-target", "attribute": part, "hint": hint, "module": module.__name__,
                            "message": f"{where or module.__name__} has no attribute '{part}'{hint}",
                            "path": os.path.abspath(where) if where and os.path.isfile(where) else None})
        obj = getattr(obj, part)
    return obj


def _import_file(path: str, root: str):
    if not os.path.isfile(path):
        raise _Failure({"kind": "bad-target", "message": f"no such file: {path}", "path": path})
    for dotted, base in _module_names(path, root):
        if base not in sys.path:
            sys.path.insert(0, base)
        try:
            module = importlib.import_module(dotted)
        except ModuleNotFoundError as exc:
            if exc.name and (dotted == exc.name or dotted.startswith(exc.name + ".")):
                continue  # not importable under this name: try the next one
            raise
        if _same_file(getattr(module, "__file__", None), path):
            return module
    # a loose file: load it by path (relative imports cannot work there)
    directory = os.path.dirname(path)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    unique = "_modellint_target_" + re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
    spec = importlib.util.spec_from_file_location(unique, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[unique] = module
    spec.loader.exec_module(module)
    return module


def _module_names(path: str, root: str):
    """(dotted name, sys.path entry) pairs to import the file by, best first:
    relative to ``src/`` and to the project root (as the project's scripts
    import it), then through its chain of ``__init__.py`` packages."""
    out = []
    src = os.path.join(root, "src")
    bases = []
    if _under(path, src) and not os.path.isfile(os.path.join(src, "__init__.py")):
        bases.append(src)
    if _under(path, root):
        bases.append(root)
    for base in bases:
        parts = os.path.splitext(os.path.relpath(path, base))[0].split(os.sep)
        out.append((parts, base))
    parts = [os.path.splitext(os.path.basename(path))[0]]
    directory = os.path.dirname(path)
    while os.path.isfile(os.path.join(directory, "__init__.py")) and os.path.dirname(directory) != directory:
        parts.insert(0, os.path.basename(directory))
        directory = os.path.dirname(directory)
    out.append((parts, directory))
    names = []
    for parts, base in out:
        if parts and parts[-1] == "__init__":
            parts = parts[:-1]
        if parts and all(p.isidentifier() for p in parts) and (".".join(parts), base) not in names:
            names.append((".".join(parts), base))
    return names


def _same_file(a, b) -> bool:
    if not a or not b:
        return False
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


# -- build -----------------------------------------------------------------------
def _build(target, request: dict, torch, nn, project: _Project, tracer):
    if isinstance(target, nn.Module):
        return target, "instance"
    if inspect.isclass(target) and not issubclass(target, nn.Module):
        bases = ", ".join(b.__name__ for b in target.__mro__[1:-1]) or "object"
        raise _Failure({"kind": "not-a-module",
                        "message": f"{target.__qualname__} is a class that is not a torch.nn.Module subclass (bases: {bases})",
                        **_where(target)})
    if not callable(target):
        raise _Failure({"kind": "not-a-module",
                        "message": f"the target is a {type(target).__name__}, not an nn.Module class or a factory returning one"})
    kwargs = request.get("kwargs") or {}
    device = request.get("device", "meta")
    if tracer is not None:
        tracer.start()
    try:
        if device == "meta":
            with torch.device("meta"):
                model = target(**kwargs)
        else:
            model = target(**kwargs)
    except BaseException as exc:
        if tracer is not None:
            tracer.stop()
        error = _exception_error("constructor-error", exc, project)
        frames = traceback.extract_tb(exc.__traceback__)
        if isinstance(exc, TypeError) and frames and _same_path(frames[-1].filename, __file__):
            error["kind"] = "call-error"  # the arguments did not fit the signature
        if device == "meta" and "meta" in str(exc).lower():
            error["meta_device"] = True
        raise _Failure(error) from None
    if tracer is not None:
        tracer.stop()
    if not isinstance(model, nn.Module):
        name = getattr(target, "__qualname__", str(target))
        raise _Failure({"kind": "not-a-module",
                        "message": f"{name}(...) returned a {type(model).__module__}.{type(model).__qualname__}, not a torch.nn.Module"
                        if type(model).__module__ != "builtins" else
                        f"{name}(...) returned a {type(model).__name__}, not a torch.nn.Module",
                        **_where(target)})
    return model, "meta" if device == "meta" else "cpu"


def _exception_error(kind: str, exc: BaseException, project: _Project) -> dict:
    error = {"kind": kind, "exception": _exception_line(exc), "message": _exception_line(exc)}
    frames = traceback.extract_tb(exc.__traceback__)
    if isinstance(exc, SyntaxError) and exc.filename and project.owns(exc.filename):
        error.update(path=os.path.abspath(exc.filename), line=exc.lineno or 1, function=None,
                     source_line=(exc.text or "").strip())
        return error
    mine = [f for f in frames if project.owns(f.filename)]
    if mine:
        frame = mine[-1]
        error.update(path=os.path.abspath(frame.filename), line=frame.lineno, function=frame.name,
                     source_line=(frame.line or "").strip())
    else:
        error.update(path=None, line=None)
    return error


def _exception_line(exc: BaseException) -> str:
    lines = traceback.format_exception_only(type(exc), exc)
    text = (lines[-1] if lines else type(exc).__name__).strip()
    if isinstance(exc, SystemExit):
        text = f"SystemExit({exc.code!r}) (the code called sys.exit() or parsed command-line arguments)"
    return " ".join(text.split())


def _where(obj) -> dict:
    definition = _definition(obj)
    return {"path": definition["path"], "line": definition["line"]} if definition else {}


# -- source locations ------------------------------------------------------------
_TREES = {}


def _file_tree(path: str):
    if path not in _TREES:
        try:
            with open(path, "rb") as handle:
                _TREES[path] = ast.parse(handle.read(), filename=path)
        except (OSError, SyntaxError, ValueError):
            _TREES[path] = None
    return _TREES[path]


def _source_node(obj):
    """(file, ClassDef/FunctionDef node) of a class or function, via inspect."""
    try:
        obj = inspect.unwrap(obj) if callable(obj) else obj
        path = inspect.getsourcefile(obj)
        if not path:
            return None, None
        path = os.path.abspath(path)
        _, start = inspect.getsourcelines(obj)
    except (OSError, TypeError):
        return None, None
    tree = _file_tree(path)
    if tree is None:
        return path, None
    name = getattr(obj, "__name__", None)
    best = None
    for node in ast.walk(tree):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
            if first == start or node.lineno == start:
                return path, node
            if best is None or abs(node.lineno - start) < abs(best.lineno - start):
                best = node
    return path, best


def _definition(obj):
    path, node = _source_node(obj)
    if path is None:
        return None
    if node is None:
        try:
            _, line = inspect.getsourcelines(obj)
        except (OSError, TypeError):
            line = 1
        return {"path": path, "line": line}
    return {"path": path, "line": node.lineno}


_CLASS_SPANS = {}


def _class_span(klass):
    """(path, first line, last line) of a class body, or None."""
    if klass not in _CLASS_SPANS:
        path, node = _source_node(klass)
        span = None
        if path and node is not None:
            span = (path, node.decorator_list[0].lineno if node.decorator_list else node.lineno,
                    getattr(node, "end_lineno", None) or node.lineno)
        _CLASS_SPANS[klass] = span
    return _CLASS_SPANS[klass]


def _self_targets(node):
    targets = []
    if isinstance(node, ast.Assign):
        targets = list(node.targets)
    elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        targets = [node.target]
    out = []
    while targets:
        target = targets.pop()
        if isinstance(target, (ast.Tuple, ast.List)):
            targets.extend(target.elts)
        elif isinstance(target, ast.Starred):
            targets.append(target.value)
        else:
            out.append(target)
    return out


_ASSIGNMENTS = {}


def _assignment(klass, attr: str, nn):
    """Where ``self.<attr> = ...`` is written in the class (or a base class):
    ``{"path", "line"}``, preferring ``__init__``."""
    key = (klass, attr)
    if key in _ASSIGNMENTS:
        return _ASSIGNMENTS[key]
    found = None
    for base in klass.__mro__:
        if base is nn.Module or base is object or (base.__module__ or "").startswith("torch."):
            continue
        path, node = _source_node(base)
        if node is None or not isinstance(node, ast.ClassDef):
            continue
        candidates = []
        for func in node.body:
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            args = func.args.posonlyargs + func.args.args if hasattr(func.args, "posonlyargs") else func.args.args
            if not args:
                continue
            me = args[0].arg
            for inner in ast.walk(func):
                for target in _self_targets(inner):
                    if (isinstance(target, ast.Attribute) and target.attr == attr
                            and isinstance(target.value, ast.Name) and target.value.id == me):
                        candidates.append((func.name != "__init__", inner.lineno))
        if candidates:
            found = {"path": path, "line": min(candidates)[1]}
            break
    _ASSIGNMENTS[key] = found
    return found


# -- describe --------------------------------------------------------------------
class _Describer:
    def __init__(self, model, nn, project: _Project):
        self.model = model
        self.nn = nn
        self.project = project
        self.internal = set(vars(nn.Module()).keys())
        self.registered = {id(p) for p in model.parameters()}
        self.is_lazy = getattr(nn.parameter, "is_lazy", lambda value: False)

    def _numel(self, tensor) -> int:
        return 0 if self.is_lazy(tensor) else tensor.numel()

    def _counts(self, module, recurse: bool = True) -> dict:
        params = list(module.parameters(recurse=recurse))
        total = sum(self._numel(p) for p in params)
        trainable = sum(self._numel(p) for p in params if p.requires_grad)
        buffers = list(module.buffers(recurse=recurse))
        return {
            "parameters": total,
            "trainable": trainable,
            "frozen": total - trainable,
            "frozen_percent": round(100.0 * (total - trainable) / total, 2) if total else None,
            "buffers": sum(self._numel(b) for b in buffers),
            "_floating_buffers": sum(self._numel(b) for b in buffers if b.is_floating_point()),
        }

    def _row(self, name: str, module, depth: int, owner) -> dict:
        row = {"name": name, "class": type(module).__name__,
               "qualified_class": f"{type(module).__module__}.{type(module).__qualname__}", "depth": depth}
        counts = self._counts(module)
        counts.pop("_floating_buffers")
        row.update(counts)
        attr = name.rsplit(".", 1)[-1]
        where = _assignment(type(owner), attr, self.nn) if owner is not None and attr.isidentifier() else None
        row["assigned_at"] = where
        return row

    def describe(self, depth: int) -> dict:
        nn = self.nn
        totals = self._counts(self.model)
        floating = totals.pop("_floating_buffers")
        size_elements = totals["parameters"] + floating
        totals["size_mb"] = {"fp32": round(size_elements * 4 / 1e6, 3), "bf16": round(size_elements * 2 / 1e6, 3)}
        totals["modules"] = sum(1 for _ in self.model.modules())
        totals["lazy"] = sum(1 for p in self.model.parameters() if self.is_lazy(p))
        rows = []
        by_name = {"": self.model}
        for name, module in self.model.named_modules():
            if not name:
                continue
            by_name[name] = module
            level = name.count(".") + 1
            if level > max(depth, 1):
                continue
            owner = by_name.get(name.rsplit(".", 1)[0] if "." in name else "")
            row = self._row(name, module, level, owner)
            if level == 1 and isinstance(module, (nn.ModuleList, nn.ModuleDict)):
                row["members"] = [self._row(f"{name}.{child_name}", child, 2, module)
                                  for child_name, child in module.named_children()]
            if level <= depth:
                rows.append(row)
            elif level == 1:  # depth 0: keep the children for the rules, out of the table
                row["hidden"] = True
                rows.append(row)
        own = self._counts(self.model, recurse=False)
        own.pop("_floating_buffers")
        own["name"] = "(self)"
        own["class"] = type(self.model).__name__
        return {"totals": totals, "own": own, "modules": rows}

    # -- ML603: modules and parameters kept in plain containers -------------------
    def _collect(self, value, label: str, found: list, budget: list, nesting: int = 0) -> None:
        nn = self.nn
        if budget[0] <= 0:
            return
        budget[0] -= 1
        if isinstance(value, nn.Parameter):
            found.append(("parameter", label, value))
        elif isinstance(value, nn.Module):
            found.append(("module", label, value))
        elif nesting < MAX_NESTING and isinstance(value, dict):
            for key, item in list(value.items()):
                self._collect(item, f"{label}[{key!r}]", found, budget, nesting + 1)
        elif nesting < MAX_NESTING and isinstance(value, _CONTAINERS):
            for index, item in enumerate(list(value)):
                self._collect(item, f"{label}[{index}]", found, budget, nesting + 1)

    def _scan_attribute(self, module, attr: str, value):
        found = []
        self._collect(value, attr, found, [MAX_SCAN])
        if not found:
            return None
        seen = set()
        missed = trainable = shared = 0
        classes = {}
        modules = parameters = 0
        for kind, _, obj in found:
            if kind == "module":
                modules += 1
                classes[type(obj).__name__] = classes.get(type(obj).__name__, 0) + 1
                params = list(obj.parameters())
            else:
                parameters += 1
                params = [obj]
            for p in params:
                if id(p) in seen:
                    continue
                seen.add(id(p))
                if id(p) in self.registered:
                    shared += self._numel(p)
                else:
                    missed += self._numel(p)
                    trainable += self._numel(p) if p.requires_grad else 0
        return {"container": type(value).__name__, "entries": len(value), "modules": modules,
                "module_classes": classes, "parameter_objects": parameters, "parameters": missed,
                "trainable": trainable, "registered_elsewhere": shared,
                "examples": [label for _, label, _ in found[:3]]}

    def unregistered(self) -> list:
        groups = {}
        for owner_name, module in self.model.named_modules():
            for attr, value in list(vars(module).items()):
                if attr in self.internal or isinstance(value, self.nn.Module) or not isinstance(value, _CONTAINERS):
                    continue
                scan = self._scan_attribute(module, attr, value)
                if scan is None:
                    continue
                klass = type(module)
                key = (klass, attr)
                group = groups.get(key)
                if group is None:
                    where = _assignment(klass, attr, self.nn) or _definition(klass) or {}
                    group = groups[key] = dict(
                        owner_class=klass.__qualname__, attribute=attr, owners=[], instances=0,
                        path=where.get("path"), line=where.get("line"),
                        in_project=bool(where.get("path")) and self.project.owns(where["path"]),
                        **{k: (0 if isinstance(v, int) else v) for k, v in scan.items()})
                    group["module_classes"] = {}
                group["instances"] += 1
                if len(group["owners"]) < 5:
                    group["owners"].append(owner_name)
                for field in ("entries", "modules", "parameter_objects", "parameters", "trainable", "registered_elsewhere"):
                    group[field] += scan[field]
                for name, count in scan["module_classes"].items():
                    group["module_classes"][name] = group["module_classes"].get(name, 0) + count
        # library internals holding references (nn.GRU's _flat_weights) are not news
        return [g for g in groups.values() if g["in_project"] or g["parameters"] > 0]

    # -- verdicts on static findings (ML302, ML303) -----------------------------
    def _owners_at(self, path: str, line: int):
        owners = []
        for module in self.model.modules():
            for klass in type(module).__mro__:
                if klass is object or (klass.__module__ or "").startswith("torch."):
                    continue
                span = _class_span(klass)
                if span and _same_path(span[0], path) and span[1] <= line <= span[2]:
                    owners.append(module)
                    break
        return owners

    def probe(self, probe: dict, tracer, request: dict) -> dict:
        path, line = os.path.abspath(probe["path"]), int(probe["line"])
        result = {"code": probe["code"], "path": path, "line": line}
        text = linecache.getline(path, line)
        if probe["code"] == "ML303":
            result.update(self._probe_unregistered(path, line, text))
        elif probe["code"] == "ML302":
            result["related"], result["detail"] = self._probe_related(path, line, text, tracer, request,
                                                                      int(probe.get("column") or 0))
        return result

    def _probe_unregistered(self, path: str, line: int, text: str) -> dict:
        match = re.search(r"\b(?:self|cls)\.([A-Za-z_]\w*)", text)
        owners = self._owners_at(path, line)
        if not match or not owners:
            return {"verdict": "unknown", "detail": "not part of the instantiated model" if not owners else "no attribute on this line"}
        attr = match.group(1)
        verdicts = []
        for module in owners:
            if attr in module._modules or attr in module._parameters:
                value = module._modules.get(attr) if attr in module._modules else module._parameters.get(attr)
                kind = type(value).__name__ if value is not None else "None"
                verdicts.append(("refuted", f"`{attr}` is a registered {kind} at runtime"))
                continue
            value = vars(module).get(attr)
            if not isinstance(value, _CONTAINERS):
                verdicts.append(("unknown", ""))
                continue
            scan = self._scan_attribute(module, attr, value)
            if scan and scan["parameters"] > 0:
                verdicts.append(("confirmed", f"`{attr}` holds {scan['parameters']} parameters that model.parameters() does not return"))
            elif scan:
                verdicts.append(("refuted", f"every parameter in `{attr}` ({scan['registered_elsewhere']}) is registered elsewhere in the model, so model.parameters() returns it"))
            elif len(value):
                verdicts.append(("refuted", f"`{attr}` is a {type(value).__name__} of {len(value)} entries, none of them an nn.Module or nn.Parameter"))
            else:
                verdicts.append(("unknown", f"`{attr}` is empty in this configuration"))
        for wanted in ("confirmed", "unknown"):
            for verdict, detail in verdicts:
                if verdict == wanted:
                    return {"verdict": verdict, "detail": detail, "attribute": attr}
        return {"verdict": "refuted", "detail": verdicts[0][1], "attribute": attr}

    def _probe_related(self, path: str, line: int, text: str, tracer, request: dict, column: int = 0):
        if path.endswith(".py") and tracer is not None and line in tracer.lines.get(path, ()):
            return True, "this line ran while the model was built"
        if path.endswith(".py") and self._owners_at(path, line):
            return True, "this line is in the code of the instantiated model"
        key = _line_key(text, column)
        if not key or tracer is None:
            return False, ""
        loaded = {os.path.abspath(f) for f in tracer.loaded_files()}
        if request.get("kwargs_file"):
            loaded.add(os.path.abspath(request["kwargs_file"]))
        if path not in loaded:
            return False, ""
        if _mentions(request.get("kwargs") or {}, key):
            return True, f"`{key}` is one of the constructor arguments"
        word = re.compile(r"\b" + re.escape(key) + r"\b")
        for filename, lines in tracer.lines.items():
            if _same_path(filename, path):
                continue
            for number in lines:
                if word.search(linecache.getline(filename, number)):
                    return True, f"`{key}` is read by {os.path.basename(filename)}:{number} while the model is built"
        return False, ""


def _same_path(a: str, b: str) -> bool:
    return os.path.normcase(os.path.abspath(a)) == os.path.normcase(os.path.abspath(b))


_KEY = re.compile(r"""^\s*(?:-\s*)?["']?([A-Za-z_][\w.-]*)["']?\s*[:=]""")
_QUOTED_KEY = re.compile(r"""["']([A-Za-z_][\w.-]*)["']\s*:""")
_KEYWORD = re.compile(r"""\b([A-Za-z_]\w*)\s*=[^=]""")


def _line_key(text: str, column: int = 0):
    """The config key a finding on this line points at: the last key that
    starts at or before the finding's column (the first key without one)."""
    found = []
    for pattern in (_QUOTED_KEY, _KEY, _KEYWORD):
        found.extend((m.start(1), m.group(1)) for m in pattern.finditer(text))
    if not found:
        return None
    found.sort()
    before = [key for start, key in found if start <= max(column - 1, 0)]
    return (before[-1] if before and column else found[0][1]).rsplit(".", 1)[-1]


def _mentions(value, key: str, depth: int = 0) -> bool:
    if depth > 20:
        return False
    if isinstance(value, dict):
        return any(k == key or _mentions(v, key, depth + 1) for k, v in value.items())
    if isinstance(value, list):
        return any(_mentions(v, key, depth + 1) for v in value)
    return False


class _Tracer:
    """Which lines of the project's own files run while the model is built."""

    def __init__(self, project: _Project):
        self.project = project
        self.lines = {}
        self._previous = None
        self._before = set()

    def _global(self, frame, event, arg):
        filename = frame.f_code.co_filename
        if not self.project.owns(filename):
            return None
        lines = self.lines.setdefault(os.path.abspath(filename), set())
        lines.add(frame.f_lineno)

        def local(frame, event, arg):
            if event == "line":
                lines.add(frame.f_lineno)
            return local

        return local

    def start(self) -> None:
        self._previous = sys.gettrace()
        sys.settrace(self._global)

    def stop(self) -> None:
        sys.settrace(self._previous)

    def loaded_files(self):
        for module in list(sys.modules.values()):
            filename = getattr(module, "__file__", None)
            if filename and self.project.owns(filename):
                yield filename


def _peak_rss_mb():
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)


if __name__ == "__main__":
    main()
