"""Which classes of a file are ``nn.Module``s, and what they keep on ``self``.

Model-code rules ask the same questions about a class: is it a module (so
that attribute assignment registers submodules)? Which ``self.<attr>`` hold
a submodule, an ``nn.Parameter``, a plain ``list``/``dict``/``tuple``, a
buffer? Which methods are ``__init__`` and ``forward``? This module answers
them once per class and caches the answer per file, so every rule of the
single traversal shares it.

Nothing is imported or executed: a base class is recognised by its
import-resolved name (``nn.Module`` → ``torch.nn.Module``) or because it is
itself a module class defined in the same file. A class whose bases come
from elsewhere in the project (``from .base import BaseHead``) cannot be
resolved; it counts as a module only when it defines ``forward`` (``LIKELY``),
which is what every ``nn.Module`` subclass that does work has. Rules pick
how sure they need to be.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from modellint.code.names import call_name, keyword
from modellint.code.walk import walk_function, walk_function_inner, walk_statements  # noqa: F401  (walk_function re-exported: rules import it from here)
from modellint.lazy_re import lazy

# How sure we are that a class is an nn.Module.
YES = "yes"
LIKELY = "likely"  # unresolvable base (another file of the project) and a ``forward`` method
NO = "no"

# ``torch.nn.<Capitalised>`` is a module class except these.
_NN_NON_MODULES = frozenset({"Parameter", "UninitializedParameter", "UninitializedBuffer", "Buffer"})

# Module base classes of other frameworks, by resolved-name prefix → last segments.
_FRAMEWORK_BASES: Tuple[Tuple[str, frozenset], ...] = (
    ("pytorch_lightning", frozenset({"LightningModule"})),
    ("lightning", frozenset({"LightningModule"})),
    ("transformers", frozenset({"PreTrainedModel", "PretrainedModel"})),
    ("diffusers", frozenset({"ModelMixin"})),
    ("mmengine", frozenset({"BaseModule", "BaseModel", "Sequential", "ModuleList", "ModuleDict"})),
    ("mmcv", frozenset({"BaseModule", "Sequential", "ModuleList", "ModuleDict", "ConvModule"})),
)

# A file can define an nn.Module subclass with a resolved base only if it names one of these
# (the import of ``torch.nn``, of a framework above, or a bare ``LightningModule``).
MODULE_IMPORT_WORDS: Tuple[str, ...] = ("torch", "LightningModule") + tuple(prefix for prefix, _ in _FRAMEWORK_BASES)

# Bases that say "not a module": a class built only on these is plain Python.
_PLAIN_BASE_ROOTS = ("object", "abc", "ABC", "typing", "enum", "Enum", "collections", "dataclasses",
                     "Exception", "dict", "list", "tuple", "set", "str", "int", "float", "NamedTuple",
                     "TypedDict", "Protocol", "Generic", "builtins")

# Parameter constructors.
PARAMETER_CALLS = frozenset({"torch.nn.Parameter", "torch.nn.parameter.Parameter", "torch.nn.UninitializedParameter"})

# Names of classes from other files that are almost surely modules. Used only
# where a rule opts in (``loose``): a list of ``ResBlock(...)`` in a module is
# a list of modules even when ``ResBlock`` is imported from ``.layers``.
MODULE_NAME_HINT = lazy(
    r"(Block|Layer|Conv(\d[dD]?)?([A-Z][A-Za-z0-9]*)?|Linear|Head|Encoder|Decoder|Net|Network|Module|Attention|"
    r"Attn|MLP|Mlp|FFN|Embedding|Embed|Norm|Transformer|Backbone|Stage|Bottleneck|Cell|LSTM|GRU|RNN|Model|Neck|"
    r"Pool(\d[dD])?|Upsample|Downsample|Projector|Projection|Classifier|Adapter)\d*$"
)

# ...but not these (``ConvConfig``, ``HeadSpec``, ``ModelOutput``).
NOT_MODULE_NAME_HINT = lazy(r"(Config|Cfg|Spec|Params|Args|Options|Builder|Factory|Registry|Output|Outputs|"
                                  r"Result|Results|Info|State|Meta|Type|Mode|Enum)$")

# torch.nn classes that own parameters when constructed with their defaults
# (ML304). Norms whose affine part can be switched off list the switch.
PARAMETRISED_NN = {
    "Linear": None, "Bilinear": None, "LazyLinear": None,
    "Conv1d": None, "Conv2d": None, "Conv3d": None,
    "ConvTranspose1d": None, "ConvTranspose2d": None, "ConvTranspose3d": None,
    "LazyConv1d": None, "LazyConv2d": None, "LazyConv3d": None,
    "LazyConvTranspose1d": None, "LazyConvTranspose2d": None, "LazyConvTranspose3d": None,
    "BatchNorm1d": ("affine", True), "BatchNorm2d": ("affine", True), "BatchNorm3d": ("affine", True),
    "SyncBatchNorm": ("affine", True),
    "LazyBatchNorm1d": ("affine", True), "LazyBatchNorm2d": ("affine", True), "LazyBatchNorm3d": ("affine", True),
    "GroupNorm": ("affine", True),
    "LayerNorm": ("elementwise_affine", True), "RMSNorm": ("elementwise_affine", True),
    # InstanceNorm has no parameters unless asked for (affine=False by default)
    "InstanceNorm1d": ("affine", False), "InstanceNorm2d": ("affine", False), "InstanceNorm3d": ("affine", False),
    "Embedding": None, "EmbeddingBag": None,
    "RNN": None, "LSTM": None, "GRU": None, "RNNCell": None, "LSTMCell": None, "GRUCell": None,
    "MultiheadAttention": None, "Transformer": None,
    "TransformerEncoder": None, "TransformerDecoder": None,
    "TransformerEncoderLayer": None, "TransformerDecoderLayer": None,
    "PReLU": None,
}

# Attribute kinds.
MODULE = "module"
PARAMETER = "parameter"
CONTAINER = "container"  # a plain list/dict/tuple (display, comprehension, list()/dict()/tuple())
BUFFER = "buffer"  # register_buffer(name, value)
OTHER = "other"


@dataclass
class Assignment:
    """One ``self.<attr> = value`` (or ``register_buffer``) inside a method."""

    attr: str
    kind: str
    value: Optional[ast.expr]
    node: ast.AST  # the statement / call, for reporting
    method: str
    ctor: Optional[str] = None  # qualified class name when kind == MODULE


@dataclass
class ClassInfo:
    node: ast.ClassDef
    module_kind: str
    methods: Dict[str, ast.FunctionDef] = field(default_factory=dict)
    assignments: Dict[str, List[Assignment]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def is_module(self) -> bool:
        return self.module_kind in (YES, LIKELY)

    def attr(self, name: str) -> Optional[Assignment]:
        """The attribute's first assignment (normally ``__init__``'s), or None."""
        found = self.assignments.get(name)
        return found[0] if found else None

    def attr_kind(self, name: str) -> Optional[str]:
        """The kind every assignment of ``self.<name>`` agrees on, OTHER when they differ."""
        found = self.assignments.get(name)
        if not found:
            return None
        kinds = {a.kind for a in found}
        return found[0].kind if len(kinds) == 1 else OTHER

    def is_learned_attr(self, name: str) -> bool:
        """A parameter or an embedding table: its value is trained."""
        found = self.assignments.get(name)
        if not found:
            return False
        return all(a.kind == PARAMETER or (a.kind == MODULE and _last(a.ctor) in ("Embedding", "EmbeddingBag"))
                   for a in found)


def _last(qualname: Optional[str]) -> str:
    return qualname.rsplit(".", 1)[-1] if qualname else ""


def is_nn_module_class(qualname: Optional[str]) -> bool:
    """``torch.nn.Linear``, ``torch.nn.modules.conv.Conv2d``, ``torch.nn.parallel.DistributedDataParallel``."""
    if not qualname or not qualname.startswith("torch.nn."):
        return False
    last = _last(qualname)
    if not last[:1].isupper() or last in _NN_NON_MODULES:
        return False
    middle = qualname[len("torch.nn."):-len(last)].rstrip(".")
    return middle == "" or middle.startswith("modules") or middle == "parallel"


def is_framework_module_base(qualname: Optional[str]) -> bool:
    if not qualname:
        return False
    if is_nn_module_class(qualname):
        return True
    head = qualname.split(".", 1)[0]
    last = _last(qualname)
    for prefix, names in _FRAMEWORK_BASES:
        if head == prefix and last in names:
            return True
    # ``from pytorch_lightning import LightningModule as LM`` resolves; a bare
    # ``LightningModule`` in a file that star-imports it does not.
    return qualname == "LightningModule"


def _is_plain_base(qualname: str) -> bool:
    head = qualname.split(".", 1)[0]
    return head in _PLAIN_BASE_ROOTS or qualname in _PLAIN_BASE_ROOTS


class FileModules:
    """Per-file cache of ``ClassInfo`` (shared by every rule of the traversal)."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.infos: Dict[int, ClassInfo] = {}
        # top-level classes by name: a base defined in the same file is resolved here
        self.top_level: Dict[str, ast.ClassDef] = {
            stmt.name: stmt for stmt in ctx.doc.tree.body if isinstance(stmt, ast.ClassDef)
        }
        self._resolving: set = set()
        self._nodes: Dict[int, List[ast.AST]] = {}
        # ``register_buffer`` is a call that can sit in any expression: without it in the
        # text, a class's attribute assignments are found among its statements alone
        self._buffers = not ctx.prefilter or "register_buffer" in ctx.doc.filter_text

    def nodes(self, func: ast.AST) -> List[ast.AST]:
        """The statements and expressions of a function that can be or hold a call
        (``walk_function_inner``: no names, constants or ``a.b`` attributes), as a list
        computed once per function for every rule. Callers look for statements and calls."""
        found = self._nodes.get(id(func))
        if found is None:
            found = list(walk_function_inner(func))
            self._nodes[id(func)] = found
        return found

    @classmethod
    def of(cls, ctx) -> "FileModules":
        found = ctx.doc.memo.get("modules")
        if found is None:
            found = cls(ctx)
            ctx.doc.memo["modules"] = found
        return found

    # -- classes ------------------------------------------------------------
    def info(self, node: ast.ClassDef) -> ClassInfo:
        cached = self.infos.get(id(node))
        if cached is not None:
            return cached
        info = ClassInfo(node, self._module_kind(node))
        # cached before its attributes are read: ``__init__`` may build the class itself
        # (a recursive tree of blocks), and that lookup must find it, not recurse
        self.infos[id(node)] = info
        for stmt in node.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                info.methods[stmt.name] = stmt
        for name, method in info.methods.items():
            self._collect_assignments(info, name, method)
        return info

    def local_class(self, qualname: Optional[str]) -> Optional[ast.ClassDef]:
        """A class defined at the top of this file, by its (unresolved) name."""
        if qualname and "." not in qualname:
            return self.top_level.get(qualname)
        return None

    def is_module_class_name(self, qualname: Optional[str], loose: bool = False) -> bool:
        """Does calling this name construct an nn.Module?"""
        if not qualname:
            return False
        if is_framework_module_base(qualname):
            return True
        local = self.local_class(qualname)
        if local is not None:
            return self.info(local).is_module
        if loose and not qualname.startswith(("torch.", "numpy.", "np.")):
            last = _last(qualname)
            return bool(MODULE_NAME_HINT.search(last)) and not NOT_MODULE_NAME_HINT.search(last)
        return False

    def _module_kind(self, node: ast.ClassDef) -> str:
        if id(node) in self._resolving:  # ``class A(A)`` or a cycle: give up
            return NO
        self._resolving.add(id(node))
        try:
            unresolved = False
            for base in node.bases:
                qual = self.ctx.qualname(base.value if isinstance(base, ast.Subscript) else base)
                if qual is None:
                    unresolved = True
                    continue
                if is_framework_module_base(qual):
                    return YES
                local = self.local_class(qual)
                if local is not None and local is not node:
                    kind = self._module_kind(local)
                    if kind == YES:
                        return YES
                    if kind == LIKELY:
                        unresolved = True
                    continue
                if not _is_plain_base(qual) and not qual.startswith("torch."):
                    unresolved = True  # a class from elsewhere in the project
            if unresolved and any(isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)) and s.name == "forward"
                                  for s in node.body):
                return LIKELY
            return NO
        finally:
            self._resolving.discard(id(node))

    # -- attributes -----------------------------------------------------------
    def classify(self, value: ast.expr, loose: bool = False) -> Tuple[str, Optional[str]]:
        """Kind of a value stored on ``self`` and, for modules, the class's name."""
        if isinstance(value, ast.Call):
            qual = self.ctx.qualname(value.func)
            if qual in PARAMETER_CALLS:
                return PARAMETER, qual
            if self.is_module_class_name(qual, loose):
                return MODULE, qual
            if qual in ("list", "dict", "tuple"):
                return CONTAINER, qual
            return OTHER, qual
        if isinstance(value, (ast.List, ast.Tuple, ast.Dict, ast.ListComp, ast.DictComp)):
            return CONTAINER, None
        return OTHER, None

    def _collect_assignments(self, info: ClassInfo, method_name: str, method: ast.FunctionDef) -> None:
        for node in (self.nodes(method) if self._buffers else walk_statements(method)):
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if node.value is None:
                    continue
                for target in targets:
                    pairs = _unpack(target, node.value)
                    for tgt, val in pairs:
                        attr = self_attr(tgt)
                        if attr is None:
                            continue
                        kind, ctor = self.classify(val) if val is not None else (OTHER, None)
                        info.assignments.setdefault(attr, []).append(Assignment(attr, kind, val, node, method_name, ctor))
            elif isinstance(node, ast.Call) and call_name(node) == "register_buffer" and _is_self(getattr(node.func, "value", None)):
                if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                    value = node.args[1] if len(node.args) > 1 else keyword(node, "tensor")
                    attr = node.args[0].value
                    info.assignments.setdefault(attr, []).append(Assignment(attr, BUFFER, value, node, method_name))


def _unpack(target: ast.expr, value: ast.expr) -> List[Tuple[ast.expr, Optional[ast.expr]]]:
    """``a, b = x, y`` → [(a, x), (b, y)]; unknown pairing → (target, None)."""
    if isinstance(target, (ast.Tuple, ast.List)):
        if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts):
            out: List[Tuple[ast.expr, Optional[ast.expr]]] = []
            for t, v in zip(target.elts, value.elts):
                out.extend(_unpack(t, v))
            return out
        out = []
        for t in target.elts:
            out.extend(_unpack(t, None) if isinstance(t, (ast.Tuple, ast.List)) else [(t, None)])
        return out
    return [(target, value)]


def _is_self(expr: Optional[ast.AST]) -> bool:
    return isinstance(expr, ast.Name) and expr.id == "self"


def self_attr(expr: Optional[ast.AST]) -> Optional[str]:
    """``self.blocks`` → ``"blocks"``; anything else → None."""
    if isinstance(expr, ast.Attribute) and _is_self(expr.value):
        return expr.attr
    return None


def enclosing_class(ctx) -> Optional[ast.ClassDef]:
    """The class whose method the traversal is in (the function's direct parent)."""
    ancestors = ctx.ancestors
    if ancestors and isinstance(ancestors[-1], ast.ClassDef):
        return ancestors[-1]
    return None


def methods_reachable(info: ClassInfo, start: str, modules: Optional["FileModules"] = None) -> List[str]:
    """Methods reached from ``start`` through ``self.<method>(...)`` calls (``start`` first)."""
    seen: List[str] = []
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen or name not in info.methods:
            continue
        seen.append(name)
        method = info.methods[name]
        for node in (modules.nodes(method) if modules is not None else walk_function(method)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and _is_self(node.func.value):
                if node.func.attr in info.methods and node.func.attr not in seen:
                    todo.append(node.func.attr)
    return seen


def parametrised_nn_call(call: ast.Call, ctx) -> Optional[str]:
    """``nn.Linear(4, 4)`` → ``"Linear"``; ``nn.ReLU()`` / ``nn.LayerNorm(d, elementwise_affine=False)`` → None."""
    qual = ctx.qualname(call.func)
    if not is_nn_module_class(qual):
        return None
    name = _last(qual)
    if name not in PARAMETRISED_NN:
        return None
    switch = PARAMETRISED_NN[name]
    if switch is not None:
        flag_name, default = switch
        value = keyword(call, flag_name)
        if value is None:
            if not default:
                return None
        elif not (isinstance(value, ast.Constant) and value.value is True):
            # ``affine=False`` has no parameters; ``affine=cfg.affine`` is unknown
            return None
    return name
