import ast
from typing import Dict, List, Optional, Set

from modellint.code.modules import (
    BUFFER,
    CONTAINER,
    MODULE,
    MODULE_IMPORT_WORDS,
    PARAMETER,
    PARAMETER_CALLS,
    FileModules,
    is_nn_module_class,
    parametrised_nn_call,
    self_attr,
)
from modellint.code.names import dotted
from modellint.fixes import SAFE, PySource, attach, make_fix
from modellint.rule import CodeRule, fixes, flag, ok

# torch.nn containers: a list of these holds parameters even though the class itself has none.
NN_CONTAINERS = frozenset({"Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict"})
# Calls that register a module by name: a class using them manages registration itself.
REGISTERING_CALLS = frozenset({"add_module", "register_module", "register_parameter"})
INSERT_METHODS = frozenset({"append", "insert", "extend", "update", "setdefault", "add"})


class UnregisteredSubmodule(CodeRule):
    code = "ML303"
    name = "unregistered-submodule"
    severity = "error"
    summary = "An nn.Module keeps submodules in a plain list/dict/tuple, so their parameters are never registered."
    rationale = (
        "`nn.Module.__setattr__` registers a submodule only when the attribute value is itself a module. Modules "
        "kept in a plain `list`, `dict` or `tuple` attribute are invisible to `model.parameters()` (the optimizer "
        "never updates them), to `.to(device)`/`.cuda()` (device-mismatch errors or silently CPU-bound layers), and "
        "to `state_dict()` (checkpoints silently lose them)."
    )
    fix = "Wrap the container: `nn.ModuleList([...])` for a list or tuple, `nn.ModuleDict({...})` for a dict."
    examples = (
        flag("encoder.py", """
            import torch.nn as nn

            class Block(nn.Module):
                def __init__(self, d):
                    super().__init__()
                    self.fc = nn.Linear(d, d)

            class Encoder(nn.Module):
                def __init__(self, d, n):
                    super().__init__()
                    self.blocks = [Block(d) for _ in range(n)]
            """, line=11, title="list comprehension of modules"),
        flag("heads.py", """
            import torch.nn as nn

            class MultiTaskHead(nn.Module):
                def __init__(self, d, tasks):
                    super().__init__()
                    self.heads = {}
                    for name, n_out in tasks.items():
                        self.heads[name] = nn.Linear(d, n_out)
            """, line=6, title="empty dict filled with modules"),
        flag("pair.py", """
            from torch import nn

            class TwoTower(nn.Module):
                def __init__(self, d):
                    super().__init__()
                    self.towers = (nn.Linear(d, d), nn.Linear(d, d))
            """, line=6, title="tuple of modules"),
        flag("mlp.py", """
            import torch.nn as nn

            class MLP(nn.Module):
                def __init__(self, sizes):
                    super().__init__()
                    self.layers = []
                    for a, b in zip(sizes[:-1], sizes[1:]):
                        self.layers.append(nn.Linear(a, b))

                def forward(self, x):
                    for layer in self.layers:
                        x = layer(x)
                    return x
            """, line=6, title="append to a plain list attribute"),
        flag("local_list.py", """
            import torch.nn as nn

            class Tower(nn.Module):
                def __init__(self, d, n):
                    super().__init__()
                    convs = []
                    for _ in range(n):
                        convs.append(nn.Conv2d(d, d, 3, padding=1))
                    self.convs = convs
            """, line=9, title="a local list of modules stored as it is"),
        flag("imported_blocks.py", """
            from torch import nn
            from .layers import ResidualBlock

            class Backbone(nn.Module):
                def __init__(self, depth):
                    super().__init__()
                    self.stages = [ResidualBlock(64) for _ in range(depth)]
            """, line=7, title="imported classes named like layers count as modules"),
        flag("scales.py", """
            import torch
            import torch.nn as nn

            class Heads(nn.Module):
                def __init__(self, n):
                    super().__init__()
                    self.scales = [nn.Parameter(torch.ones(1)) for _ in range(n)]
            """, line=7, title="nn.Parameters in a plain list (use nn.ParameterList)"),
        flag("stages.py", """
            import torch.nn as nn

            class ResNetish(nn.Module):
                def __init__(self, widths):
                    super().__init__()
                    self.stages = [self._make_stage(w) for w in widths]

                def _make_stage(self, width):
                    return nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU())
            """, line=6, title="modules built by a helper method"),
        ok("sequential.py", """
            import torch.nn as nn

            class Encoder(nn.Module):
                def __init__(self, d, n):
                    super().__init__()
                    modules = []
                    for _ in range(n):
                        modules.append(nn.Linear(d, d))
                        modules.append(nn.ReLU())
                    self.encoder = nn.Sequential(*modules)
            """, title="a local list later wrapped in nn.Sequential"),
        ok("wrapped.py", """
            import torch.nn as nn

            class Decoder(nn.Module):
                def __init__(self, d, n):
                    super().__init__()
                    self.blocks = []
                    for _ in range(n):
                        self.blocks.append(nn.Linear(d, d))
                    self.blocks = nn.ModuleList(self.blocks)
            """, title="an attribute list wrapped before __init__ ends"),
        ok("plain_values.py", """
            import torch
            import torch.nn as nn

            class Net(nn.Module):
                def __init__(self, dims):
                    super().__init__()
                    self.dims = [64, 128, 256]
                    self.names = ("conv1", "conv2")
                    self.cfg = {"act": "relu"}
                    self.anchors = []
                    for i, s in enumerate([8, 16, 32]):
                        self.register_buffer(f"anchor{i}", torch.tensor([s, s]))
                        self.anchors.append(torch.tensor([s, s]))
                    self.layers = nn.ModuleList([nn.Linear(a, b) for a, b in zip(dims, dims[1:])])
            """, title="lists of ints, strings, tensors; ModuleList"),
        ok("not_module.py", """
            import torch.nn as nn

            class ModelFactory:
                def __init__(self, d):
                    self.candidates = [nn.Linear(d, d), nn.Linear(d, 2 * d)]
            """, title="not an nn.Module: plain Python may keep modules in lists"),
        ok("fpn_like.py", """
            import torch.nn as nn

            class FPN(nn.Module):
                def __init__(self, channels, d):
                    super().__init__()
                    lateral = []
                    for i, c in enumerate(channels):
                        conv = nn.Conv2d(c, d, 1)
                        self.add_module(f"lateral{i}", conv)
                        lateral.append(conv)
                    self.lateral_convs = lateral[::-1]
            """, title="each module registered with add_module; the list only orders them"),
        ok("losses.py", """
            import torch.nn as nn

            class Criterion(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.terms = [nn.MSELoss(), nn.L1Loss(), nn.Sigmoid()]
            """, title="parameter-free modules in a list lose nothing"),
        ok("teacher.py", """
            import torch.nn as nn

            class Distiller(nn.Module):
                def __init__(self, student, teacher):
                    super().__init__()
                    self.student = student
                    self._teacher = [teacher]  # deliberately hidden from parameters()
            """, title="existing modules passed in (here deliberately hidden) are not new submodules"),
        fixes("encoder.py", """
            import torch.nn as nn

            class Encoder(nn.Module):
                def __init__(self, d, n):
                    super().__init__()
                    # one block per layer
                    self.blocks = [nn.Linear(d, d) for _ in range(n)]  # see forward()
            """, """
            import torch.nn as nn

            class Encoder(nn.Module):
                def __init__(self, d, n):
                    super().__init__()
                    # one block per layer
                    self.blocks = nn.ModuleList([nn.Linear(d, d) for _ in range(n)])  # see forward()
            """, title="fix: the list is wrapped in nn.ModuleList, comments kept"),
        fixes("heads.py", """
            from torch import nn

            class MultiTaskHead(nn.Module):
                def __init__(self, d, tasks):
                    super().__init__()
                    self.heads = {}
                    self.towers = (nn.Linear(d, d), nn.Linear(d, d))
                    for name, n_out in tasks.items():
                        self.heads[name] = nn.Linear(d, n_out)
            """, """
            from torch import nn

            class MultiTaskHead(nn.Module):
                def __init__(self, d, tasks):
                    super().__init__()
                    self.heads = nn.ModuleDict()
                    self.towers = nn.ModuleList([nn.Linear(d, d), nn.Linear(d, d)])
                    for name, n_out in tasks.items():
                        self.heads[name] = nn.Linear(d, n_out)
            """, title="fix: an empty dict becomes nn.ModuleDict(), a tuple an nn.ModuleList"),
        fixes("model.py", """
            \"\"\"A small model.\"\"\"
            import torch
            from torch.nn import Linear, Module, Parameter

            class Mixer(Module):
                def __init__(self, d, n):
                    super().__init__()
                    self.layers = [Linear(d, d) for _ in range(n)]
                    self.gates = [Parameter(torch.ones(d)) for _ in range(n)]
            """, """
            \"\"\"A small model.\"\"\"
            import torch
            from torch.nn import Linear, Module, Parameter

            class Mixer(Module):
                def __init__(self, d, n):
                    super().__init__()
                    self.layers = torch.nn.ModuleList([Linear(d, d) for _ in range(n)])
                    self.gates = torch.nn.ParameterList([Parameter(torch.ones(d)) for _ in range(n)])
            """, title="fix: spelled through `torch` when `nn` is not imported"),
        fixes("blocks.py", """
            from torch.nn import Conv2d, Module

            class Tower(Module):
                def __init__(self, d, n):
                    super().__init__()
                    self.convs = [Conv2d(d, d, 3, padding=1) for _ in range(n)]
            """, """
            from torch.nn import Conv2d, Module
            from torch import nn

            class Tower(Module):
                def __init__(self, d, n):
                    super().__init__()
                    self.convs = nn.ModuleList([Conv2d(d, d, 3, padding=1) for _ in range(n)])
            """, title="fix: `from torch import nn` is added when neither `nn` nor `torch` is imported"),
    )

    def wants(self, text: str) -> bool:
        # a class is judged only when it is an nn.Module: a base resolved through an import
        # of one of these packages, or an unresolved base and a ``forward`` method
        return "forward" in text or any(word in text for word in MODULE_IMPORT_WORDS)

    def visit_ClassDef(self, node, ctx) -> None:
        modules = FileModules.of(ctx)
        info = modules.info(node)
        if not info.is_module:
            return
        # only attributes assigned a plain container (or a local that may hold one) can be findings
        if not any(a.kind == CONTAINER or isinstance(a.value, (ast.Name, ast.BinOp, ast.Subscript))
                   for found in info.assignments.values() for a in found):
            return
        registers = False
        for method in info.methods.values():
            for inner in modules.nodes(method):
                if isinstance(inner, ast.Call):
                    func = inner.func
                    if isinstance(func, ast.Attribute) and func.attr in REGISTERING_CALLS:
                        registers = True
                    elif isinstance(func, ast.Name) and func.id == "setattr" and inner.args and dotted(inner.args[0]) == "self":
                        registers = True
        if registers:
            return  # registration is managed by hand (add_module/setattr); the lists only order the modules
        scan = _ClassScan(self, modules, ctx)
        scan.info = info
        for method in info.methods.values():
            scan.method(method)
        scan.report(info)


class _ClassScan:
    """Where plain containers of modules are stored on ``self`` in one class."""

    def __init__(self, rule, modules: FileModules, ctx):
        self.rule = rule
        self.modules = modules
        self.ctx = ctx
        self.containers: Dict[str, List[ast.AST]] = {}  # attr → plain-container assignments
        self.elements: Dict[str, List[ast.AST]] = {}  # attr → module expressions stored in it
        self.non_plain: Set[str] = set()  # attrs also assigned a non-container value (wrapped)
        self.info = None
        self.functions = {stmt.name: stmt for stmt in ctx.doc.tree.body if isinstance(stmt, ast.FunctionDef)}

    # -- what an expression holds ---------------------------------------------
    def _builder(self, call: ast.Call):
        """The function a call runs when it is a method of this class or a function of this file."""
        func = call.func
        if isinstance(func, ast.Attribute) and self_attr(func) is not None and self.info is not None:
            return self.info.methods.get(func.attr)
        if isinstance(func, ast.Name):
            return self.functions.get(func.id)
        return None

    def _module_expr(self, expr: ast.AST, locals_: Dict[str, list], registered: Set[str], depth: int = 0) -> bool:
        """Does this expression construct (or name a freshly constructed) module with parameters?"""
        if isinstance(expr, ast.Name):
            return expr.id not in registered and locals_.get(expr.id) == ["module"]
        if not isinstance(expr, ast.Call):
            return False
        builder = self._builder(expr)
        if builder is not None:
            # ``self._make_stage(...)`` / ``make_block(...)``: a module when every return builds one
            if depth > 2:
                return False
            returns = [n.value for n in self.modules.nodes(builder) if isinstance(n, ast.Return) and n.value is not None]
            return bool(returns) and all(self._module_expr(r, {}, set(), depth + 1) for r in returns)
        qual = self.ctx.qualname(expr.func)
        if qual in PARAMETER_CALLS:
            return True  # an nn.Parameter in a plain container is just as invisible
        if qual in ("copy.deepcopy", "deepcopy") and expr.args:
            return self._module_expr(expr.args[0], locals_, registered)
        if is_nn_module_class(qual):
            return parametrised_nn_call(expr, self.ctx) is not None or qual.rsplit(".", 1)[-1] in NN_CONTAINERS
        local = self.modules.local_class(qual)
        if local is not None:
            info = self.modules.info(local)
            if not info.is_module:
                return False
            # a same-file module with no parameters of its own (an activation) loses nothing,
            # unless it inherits them (``class MyConv(nn.Conv2d)``, a base from elsewhere)
            if any(a.kind in (MODULE, PARAMETER, BUFFER) for found in info.assignments.values() for a in found):
                return True
            return any(self.ctx.qualname(b) not in ("torch.nn.Module", "object", "abc.ABC") for b in local.bases)
        return self.modules.is_module_class_name(qual, loose=True) and not (qual or "").startswith("torch.")

    def _container(self, expr: ast.AST, locals_: Dict[str, list], registered: Set[str]) -> Optional[List[ast.AST]]:
        """Module elements of a plain container expression (empty list: a container without modules);
        None when the expression is not a plain container."""
        if isinstance(expr, (ast.List, ast.Tuple, ast.Set)):
            found: List[ast.AST] = []
            for elt in expr.elts:
                if isinstance(elt, (ast.Starred, ast.List, ast.Tuple)):
                    # ``[*convs]`` and ``[(nn.Linear(...), nn.Linear(...))]``: nested plain containers
                    inner = self._container(elt.value if isinstance(elt, ast.Starred) else elt, locals_, registered)
                    found.extend(inner or [])
                elif self._module_expr(elt, locals_, registered):
                    found.append(elt)
            return found
        if isinstance(expr, ast.Dict):
            return [v for v in expr.values if v is not None and self._module_expr(v, locals_, registered)]
        if isinstance(expr, (ast.ListComp, ast.SetComp)):
            return [expr.elt] if self._module_expr(expr.elt, locals_, registered) else []
        if isinstance(expr, ast.DictComp):
            return [expr.value] if self._module_expr(expr.value, locals_, registered) else []
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id in ("list", "tuple", "dict"):
            found = []
            for arg in expr.args:
                if isinstance(arg, ast.GeneratorExp):
                    if self._module_expr(arg.elt, locals_, registered):
                        found.append(arg.elt)
                else:
                    found.extend(self._container(arg, locals_, registered) or [])
            found.extend(kw.value for kw in expr.keywords if self._module_expr(kw.value, locals_, registered))
            return found
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, (ast.Mult, ast.Add)):
            left = self._container(expr.left, locals_, registered)
            right = self._container(expr.right, locals_, registered)
            if left is None and right is None:
                return None
            return (left or []) + (right or [])
        if isinstance(expr, ast.Name):
            held = locals_.get(expr.id)
            if held is not None and held != ["module"]:
                return list(held)
            return None
        if isinstance(expr, ast.Subscript) and isinstance(expr.slice, ast.Slice) and isinstance(expr.value, ast.Name):
            held = locals_.get(expr.value.id)  # ``convs[::-1]`` is still a plain list
            if held is not None and held != ["module"]:
                return list(held)
        return None

    # -- one method -------------------------------------------------------------
    def method(self, func: ast.FunctionDef) -> None:
        locals_: Dict[str, list] = {}  # name → ["module"] or the module elements of a local plain container
        # locals that are also stored as a module attribute are registered through it
        registered: Set[str] = set()
        nodes = self.modules.nodes(func)
        for node in nodes:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Name):
                if any(self_attr(t) for t in node.targets):
                    registered.add(node.value.id)
        for node in nodes:
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    self._assign(target, node.value, node, locals_, registered)
            elif isinstance(node, ast.AugAssign):
                attr = self_attr(node.target)
                held = self._container(node.value, locals_, registered)
                if attr is not None and held:
                    self.elements.setdefault(attr, []).extend(held)
                elif isinstance(node.target, ast.Name) and node.target.id in locals_ and held:
                    locals_[node.target.id] = locals_[node.target.id] + held
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in INSERT_METHODS:
                self._insert(node, locals_, registered)

    def _assign(self, target, value, stmt, locals_, registered) -> None:
        attr = self_attr(target)
        if attr is not None:
            held = self._container(value, locals_, registered)
            if held is None:
                self.non_plain.add(attr)
            else:
                self.containers.setdefault(attr, []).append(stmt)
                self.elements.setdefault(attr, []).extend(held)
            return
        if isinstance(target, ast.Name):
            held = self._container(value, locals_, registered)
            if held is not None:
                locals_[target.id] = held
            elif self._module_expr(value, locals_, set()):
                locals_[target.id] = ["module"]
            else:
                locals_.pop(target.id, None)
            return
        if isinstance(target, ast.Subscript):  # ``self.heads[k] = nn.Linear(...)`` / ``heads[k] = ...``
            base = target.value
            if self._module_expr(value, locals_, registered):
                attr = self_attr(base)
                if attr is not None:
                    self.elements.setdefault(attr, []).append(value)
                elif isinstance(base, ast.Name) and base.id in locals_ and locals_[base.id] != ["module"]:
                    locals_[base.id] = locals_[base.id] + [value]

    def _insert(self, call, locals_, registered) -> None:
        receiver = call.func.value
        method = call.func.attr
        values: List[ast.AST] = []
        if method in ("append", "add"):
            values = [a for a in call.args[:1] if self._module_expr(a, locals_, registered)]
        elif method == "insert" and len(call.args) >= 2:
            values = [call.args[1]] if self._module_expr(call.args[1], locals_, registered) else []
        elif method == "setdefault" and len(call.args) >= 2:
            values = [call.args[1]] if self._module_expr(call.args[1], locals_, registered) else []
        elif method in ("extend", "update"):
            for arg in call.args:
                values.extend(self._container(arg, locals_, registered) or [])
            values.extend(kw.value for kw in call.keywords if self._module_expr(kw.value, locals_, registered))
        if not values:
            return
        attr = self_attr(receiver)
        if attr is not None:
            self.elements.setdefault(attr, []).extend(values)
        elif isinstance(receiver, ast.Name) and receiver.id in locals_ and locals_[receiver.id] != ["module"]:
            locals_[receiver.id] = locals_[receiver.id] + values

    # -- findings -------------------------------------------------------------------
    def report(self, info) -> None:
        for attr, stmts in self.containers.items():
            if attr in self.non_plain:
                continue  # wrapped (``self.blocks = nn.ModuleList(self.blocks)``) or replaced
            elements = self.elements.get(attr, [])
            if not elements:
                continue
            first = stmts[0]
            kind = _container_word(first)
            shown = _short(elements[0])
            related = []
            for element in elements[:3]:
                if element.lineno != first.lineno:
                    related.append((self.ctx.span(element), f"module `{_short(element)}` stored in `self.{attr}` here"))
            params = all(self._is_parameter(e) for e in elements)
            what = "parameters" if params else "modules"
            if params:
                wrapper = "nn.ParameterDict" if kind == "dict" else "nn.ParameterList"
            else:
                wrapper = "nn.ModuleDict" if kind == "dict" else "nn.ModuleList"
            self.ctx.report(
                self.rule, first,
                f"`self.{attr}` in `{info.name}` (an nn.Module) is a plain {kind} holding {what} (`{shown}`): {what} in a "
                f"plain {kind} are not registered, so they are missing from `model.parameters()` (never "
                f"trained), are not moved by `.to(device)` and are not saved in `state_dict()`",
                help=f"Store them in `{wrapper}(...)` instead of a plain {kind}.",
                related=related,
            )
            attach(self.ctx, self._fix(first, attr, kind, wrapper))

    def _fix(self, stmt, attr: str, kind: str, wrapper: str):
        """Wrap the stored container: ``[...]`` → ``nn.ModuleList([...])``, ``{}`` → ``nn.ModuleDict()``."""
        if isinstance(stmt, ast.Assign) and len(stmt.targets) != 1:
            return None
        value = getattr(stmt, "value", None)
        if not isinstance(stmt, (ast.Assign, ast.AnnAssign)) or value is None:
            return None
        if kind == "dict" and any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "setdefault"
                                  and self_attr(n.func.value) == attr
                                  for m in self.info.methods.values() for n in self.modules.nodes(m)):
            return None  # nn.ModuleDict has no setdefault
        src = PySource.of(self.ctx)
        text = src.text(value)
        if isinstance(value, (ast.List, ast.Dict)) and not (value.elts if isinstance(value, ast.List) else value.keys):
            inner = ""
        elif isinstance(value, (ast.List, ast.ListComp, ast.Dict, ast.DictComp)):
            inner = text
        elif isinstance(value, ast.Tuple) and value.elts and text.startswith("(") and text.endswith(")") \
                and src.start(value) != src.start(value.elts[0]):
            body = text[1:-1]
            if len(value.elts) == 1 and body.rstrip().endswith(",") and "\n" not in body:
                body = body.rstrip()[:-1]  # ``(m,)`` → ``[m]``
            inner = f"[{body}]"
        elif isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in ("list", "tuple", "dict"):
            inner = text
        else:
            return None  # a local name, a repeated list (``[m] * n`` shares one module): left to the author
        prefix, import_edit = src.import_name(self.ctx, "torch.nn", "nn")
        if prefix is None:
            return None
        call = f"{prefix}.{wrapper.split('.', 1)[1]}({inner})"
        return make_fix(SAFE, f"Wrap `self.{attr}` in `{wrapper}`", [src.replace(value, call), import_edit])

    def _is_parameter(self, expr) -> bool:
        return isinstance(expr, ast.Call) and self.ctx.qualname(expr.func) in PARAMETER_CALLS


def _container_word(stmt) -> str:
    value = getattr(stmt, "value", None)
    if isinstance(value, (ast.Dict, ast.DictComp)) or (isinstance(value, ast.Call) and getattr(value.func, "id", "") == "dict"):
        return "dict"
    if isinstance(value, ast.Tuple) or (isinstance(value, ast.Call) and getattr(value.func, "id", "") == "tuple"):
        return "tuple"
    return "list"


def _short(node) -> str:
    text = ast.unparse(node) if hasattr(ast, "unparse") else "..."
    return text if len(text) <= 50 else text[:47] + "..."
