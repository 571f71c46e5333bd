import ast
import re
from functools import lru_cache
from typing import Dict, List, Optional, Set, Tuple

from modellint.code.loops import (
    analyse_function,
    constructor_role,
    describe,
    file_index,
    grad_disabling_with,
)
from modellint.code.names import call_name, dotted
from modellint.code.walk import children, walk, walk_block_statements
from modellint.facts import names
from modellint.lazy_re import lazy
from modellint.provenance import Fact
from modellint.rule import CodeRule, RecipeRule, flag, ok

# names of functions a file calls that may freeze encoders elsewhere (kept apart from ``names.FREEZE``)
CALLS = "freeze.calls"
_ENCODER_ATTR = lazy(r"encoder|backbone", re.I)
_NOT_ENCODER_ATTR = lazy(r"pos(ition)?(al)?_?enc|label_?enc|tokeni[sz]er|one_?hot|ordinal|_cfg$|config|_name$|"
                               r"_type$|_dim$|_dims$|_channels$|_lr$|_path$|freeze|frozen|_out$|_feats?$|_features$|"
                               r"_output|_outputs$|_hidden|_mask$|_kwargs$", re.I)
# frozen by design: momentum/EMA/teacher copies that follow the trained encoder
_SHADOW_ATTR = lazy(r"momentum|(^|_)ema(_|$)|teacher|(^|_)target(_|$)|_k$|key_enc|shadow|(^|_)avg(_|$)|average|"
                          r"mean_teacher|(^|_)frozen(_|$)|(^|_)ref(_|$)|reference|(^|_)old(_|$)|(^|_)prev(ious)?(_|$)", re.I)
_LINEAR_PROBE = lazy(r"linear|probe|lineval|linprobe|linear_eval|frozen", re.I)
_KNOWN_BASES = frozenset({"Module", "LightningModule", "PreTrainedModel", "ModelMixin", "BaseModule", "object",
                          "ABC", "Generic"})
_EXPORTISH = lazy(r"export|onnx|torchscript|trace|jit|deploy|infer|predict|eval|test|convert|quantiz|benchmark|"
                        r"profil|demo|visuali[sz]|serve|serving|summary|count_param|flops", re.I)
_TRAININGISH = lazy(r"freeze|frozen|setup|build|init|prepare|configure|train|fit|main|run|load|create|make|get_model|"
                          r"finetune|fine_tune", re.I)
_ENTRY = lazy(r"^_?(main|run|train|fit|cli|app|train_\w+|run_\w+|main_\w+)$")
_MODEL_VAR = lazy(r"^(model|net|network|classifier|student|detector|segmentor)$", re.I)
_BUILD_METHODS = lazy(r"^(__init__|__post_init__|setup|build\w*|_build\w*|_init\w*|init_\w*|_make\w*|make_\w*|create\w*|_create\w*)$")


@lru_cache(maxsize=4096)  # asked for every call of every file; callee names repeat
def _trainingish(name: str) -> bool:
    return bool(_TRAININGISH.search(name))


def _is_encoder_attr(name: str) -> bool:
    return bool(_ENCODER_ATTR.search(name)) and not _NOT_ENCODER_ATTR.search(name) and not _SHADOW_ATTR.search(name)


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.rsplit(".", 1)[-1].lower())


class AllBackbonesFrozen(CodeRule, RecipeRule):
    code = "ML302"
    name = "all-backbones-frozen"
    severity = "warning"
    summary = "Every backbone/encoder of the model is frozen, so only the heads/fusion layers learn."
    rationale = (
        "Freezing a pre-trained backbone is a fine way to save compute, but when every encoder is frozen only "
        "the heads or the fusion layers can learn: if the frozen features do not already separate the classes "
        "(encoders pre-trained on another task, checkpoints that failed to load, random init), the loss sits "
        "flat whatever the learning rate (a post-mortem froze all four encoders of a video/audio/IMU/text "
        "model and chased the LR down to 1e-10). Seen in configs (`freeze_backbone: true` in every encoder "
        "section, detectron2 `MODEL.BACKBONE.FREEZE_AT` >= 5, mmcv/MMEngine `frozen_stages` equal to the "
        "backbone's number of stages) and in code (`requires_grad = False` / `requires_grad_(False)` over every "
        "`*encoder*`/`*backbone*` attribute of a model, or over `model.parameters()` with nothing unfrozen "
        "afterwards). One frozen backbone next to trainable encoders, `freeze_backbone: false`, partial "
        "freezing (`FREEZE_AT: 2`), freezing behind a config flag whose config says false, and freezing in a "
        "path that never trains (an `export()` function) are fine. Note: `p.require_grad = False` (without "
        "the s) freezes nothing: it only sets a new attribute on the tensor, so it is not counted as freezing."
    )
    fix = ("Unfreeze at least one encoder (`freeze_backbone: false`), or fine-tune the encoders with a smaller LR "
           "(`lr_mult`, parameter groups); if this is deliberate linear probing, suppress the finding.")
    examples = (
        flag("configs/model_config.py", """
            VIDEO_ENCODER = {"type": "conv3d", "out_dim": 512, "freeze_backbone": True}
            AUDIO_ENCODER = {"type": "conv1d", "out_dim": 512, "freeze_backbone": True}
            SENSOR_ENCODER = {"type": "gru", "out_dim": 512, "freeze_backbone": True}
            TEXT_ENCODER = {"type": "transformer", "out_dim": 512, "freeze_backbone": True}
            FUSION = {"type": "transformer", "d_model": 512}
            """, line=4, title="seed 001: every encoder section frozen (reported at the last freeze line)"),
        flag("configs/mask_rcnn_frozen.yaml", """
            MODEL:
              META_ARCHITECTURE: GeneralizedRCNN
              BACKBONE:
                NAME: build_resnet_fpn_backbone
                FREEZE_AT: 5
            """, line=5, title="detectron2 FREEZE_AT 5: stem and all four ResNet stages"),
        flag("configs/resnet50_frozen.py", """
            model = dict(
                type="ImageClassifier",
                backbone=dict(type="ResNet", depth=50, num_stages=4, frozen_stages=4),
                head=dict(type="LinearClsHead", num_classes=10, in_channels=2048),
            )
            """, line=3, title="mmcv ResNet frozen_stages == num_stages"),
        flag("model.py", """
            import torch.nn as nn

            class Fusion(nn.Module):
                def __init__(self, image_encoder, text_encoder, dim):
                    super().__init__()
                    self.image_encoder = image_encoder
                    self.text_encoder = text_encoder
                    self.head = nn.Linear(2 * dim, 2)
                    for p in self.image_encoder.parameters():
                        p.requires_grad = False
                    self.text_encoder.requires_grad_(False)
            """, line=11, title="code: every encoder attribute frozen in __init__"),
        flag("train.py", """
            import torch

            def main(model, loader):
                for p in model.parameters():
                    p.requires_grad = False
                optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
                for x, y in loader:
                    optimizer.zero_grad()
                    model(x, y).backward()
                    optimizer.step()
            """, line=5, title="code: model.parameters() frozen wholesale before training"),
        flag({"configs/model.yaml": """
                encoders:
                  rgb: {freeze: true}
                  depth: {freeze: true}
                """,
              "src/model.py": """
                import torch.nn as nn

                class RGBD(nn.Module):
                    def __init__(self, cfg, rgb_encoder, depth_encoder):
                        super().__init__()
                        self.rgb_encoder = rgb_encoder
                        self.depth_encoder = depth_encoder
                        if cfg["encoders"]["rgb"]["freeze"]:
                            self.rgb_encoder.requires_grad_(False)
                        if cfg["encoders"]["depth"]["freeze"]:
                            self.depth_encoder.requires_grad_(False)
                """}, at="configs/model.yaml", line=3,
             title="config and code: one finding at the config, the code freezes as related locations"),
        ok("configs/model_config.py", """
            VIDEO_ENCODER = {"type": "conv3d", "freeze_backbone": True}
            AUDIO_ENCODER = {"type": "conv1d", "freeze_backbone": False}
            SENSOR_ENCODER = {"type": "gru", "freeze_backbone": False}
            TEXT_ENCODER = {"type": "transformer", "freeze_backbone": False}
            """, title="one frozen encoder next to trainable ones"),
        ok("configs/linear.yaml", """
            model:
              backbone: {name: resnet50, freeze_backbone: false}
            """, title="freeze_backbone: false"),
        ok("configs/faster_rcnn.yaml", """
            MODEL:
              BACKBONE:
                NAME: build_resnet_fpn_backbone
                FREEZE_AT: 2
            """, title="partial freezing (detectron2 default)"),
        ok("configs/retina.py", """
            model = dict(backbone=dict(type="ResNet", depth=50, frozen_stages=1), neck=dict(type="FPN"))
            """, title="mmcv frozen_stages=1: stem and first stage only"),
        ok("model.py", """
            import torch.nn as nn

            class Fusion(nn.Module):
                def __init__(self, image_encoder, text_encoder):
                    super().__init__()
                    self.image_encoder = image_encoder
                    self.text_encoder = text_encoder
                    self.image_encoder.requires_grad_(False)
            """, title="one frozen encoder, the other trains"),
        ok("export.py", """
            import torch

            def export(model, path):
                for p in model.parameters():
                    p.requires_grad = False
                model.eval()
                torch.onnx.export(model, torch.randn(1, 3, 224, 224), path)
            """, title="freezing on an export path"),
        ok("model.py", """
            import torch.nn as nn

            class Dual(nn.Module):
                def __init__(self, a_encoder, b_encoder):
                    super().__init__()
                    self.a_encoder = a_encoder
                    self.b_encoder = b_encoder
                    for p in self.a_encoder.parameters():
                        p.require_grad = False
                    for p in self.b_encoder.parameters():
                        p.require_grad = False
            """, title="`require_grad` (typo) freezes nothing"),
        ok("model.py", """
            import torch.nn as nn

            class Dual(nn.Module):
                def __init__(self, a_encoder, b_encoder):
                    super().__init__()
                    self.a_encoder = a_encoder
                    self.b_encoder = b_encoder
                    self.a_encoder.requires_grad_(False)
                    self.b_encoder.requires_grad_(False)

                def unfreeze(self, epoch):
                    if epoch >= 5:
                        self.b_encoder.requires_grad_(True)
            """, title="frozen first, unfrozen later (staged fine-tuning)"),
        ok("moco.py", """
            import copy
            import torch.nn as nn

            class MoCo(nn.Module):
                def __init__(self, encoder):
                    super().__init__()
                    self.encoder_q = encoder
                    self.encoder_k = copy.deepcopy(encoder)
                    for p in self.encoder_k.parameters():
                        p.requires_grad = False
            """, title="a momentum (key) encoder is frozen by design; the query encoder trains"),
        flag("configs/swav_resnet50_linear_eval.py", """
            model = dict(backbone=dict(type="ResNet", depth=50, frozen_stages=4), head=dict(type="LinearClsHead"))
            """, line=1, severity="info", title="a linear-probe config: reported as info"),
        ok("train.py", """
            import torch

            def main(model, loader):
                for p in model.parameters():
                    p.requires_grad = False
                for p in model.fc.parameters():
                    p.requires_grad = True
                optimizer = torch.optim.SGD(model.fc.parameters(), lr=0.1)
            """, title="wholesale freeze followed by an unfreeze"),
    )

    # -- code part: facts from the one traversal ----------------------------------------
    def visit_Module(self, node, ctx) -> None:
        self._declared: Set[Tuple[str, str]] = set()
        self._called: Set[str] = set()
        text = ctx.doc.filter_text
        # cheap text pre-filters
        # (a case-insensitive regex over the whole text costs ten times more)
        self._encoders = not ctx.prefilter or "encoder" in ctx.doc.lowered or "backbone" in ctx.doc.lowered
        self._no_grad = not ctx.prefilter or "no_grad" in text or "inference_mode" in text
        self._freezing = not ctx.prefilter or "requires_grad" in text

    def leave_Module(self, node, ctx) -> None:
        # functions this file calls that may freeze elsewhere (``model.freeze_encoders()`` in train.py)
        if self._called:
            ctx.fact(CALLS, tuple(sorted(self._called)), node, "calls", kind="calls")

    def visit_ClassDef(self, node: ast.ClassDef, ctx) -> None:
        if not self._encoders:
            return
        owner = f"cls:{node.name}"
        local_classes = {s.name for s in ctx.doc.tree.body if isinstance(s, ast.ClassDef)}
        # encoders a base class from another file declares are invisible here
        complete = all((dotted(b) or "").rsplit(".", 1)[-1] in _KNOWN_BASES or dotted(b) in local_classes
                       for b in node.bases)
        for method in node.body:
            if not isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)) or not _BUILD_METHODS.match(method.name):
                continue
            for stmt in walk_block_statements(method):
                if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                    value = stmt.value
                    if value is None or isinstance(value, (ast.Constant, ast.List, ast.Tuple, ast.Dict, ast.JoinedStr)):
                        continue
                    for target in targets:
                        if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and \
                                target.value.id == "self" and _is_encoder_attr(target.attr) and \
                                (owner, target.attr) not in self._declared:
                            self._declared.add((owner, target.attr))
                            ctx.fact(names.FREEZE, False, target, target.attr, kind="declared", owner=owner,
                                     section=target.attr, complete=complete)
        if self._no_grad and any(owner == o for o, _ in self._declared):
            self._no_grad_encoders(node, owner, ctx)

    def _no_grad_encoders(self, klass: ast.ClassDef, owner: str, ctx) -> None:
        """Encoders that are only ever run under ``torch.no_grad()`` never receive gradients."""
        with_grad: Set[str] = set()
        without: Dict[str, ast.AST] = {}
        for method in klass.body:
            if not isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)) or _BUILD_METHODS.match(method.name):
                continue
            stack: List[Tuple[ast.AST, bool]] = [(s, False) for s in method.body]
            while stack:
                current, no_grad = stack.pop()
                if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                    continue
                if grad_disabling_with(current):
                    no_grad = True
                if isinstance(current, ast.Call):
                    attr = _self_attr_call(current)
                    if attr and _is_encoder_attr(attr):
                        if no_grad:
                            without.setdefault(attr, current)
                        else:
                            with_grad.add(attr)
                for child in children(current):
                    stack.append((child, no_grad))
        for attr, call in sorted(without.items(), key=lambda item: item[1].lineno):
            if attr not in with_grad:
                ctx.fact(names.FREEZE, True, call, attr, kind="freeze", owner=owner, section=attr, how="no_grad",
                         conditional=False, reachable=True, function="forward")

    def visit_For(self, node: ast.For, ctx) -> None:
        if not self._freezing:
            return
        sources = _parameter_sources(node.iter, node, ctx)
        if not sources:
            return
        var, named = _loop_vars(node.target)
        if var is None:
            return
        for stmt, value, guard_tests in _requires_grad_sets(node, var):
            name_filter, conditional = _filter_from(guard_tests, named)
            for receiver in sources:
                self._emit(ctx, receiver, value, stmt, name_filter, conditional)

    def visit_AsyncFor(self, node, ctx) -> None:
        self.visit_For(node, ctx)

    def visit_Call(self, node: ast.Call, ctx) -> None:
        name = call_name(node)
        if name and _trainingish(name):
            self._called.add(name)
        if name != "requires_grad_" or not isinstance(node.func, ast.Attribute):
            return
        value = True
        arg = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "requires_grad"), None)
        if arg is not None:
            if not (isinstance(arg, ast.Constant) and isinstance(arg.value, bool)):
                return  # requires_grad_(flag): unknown
            value = arg.value
        loop = _enclosing_parameter_loop(ctx, node.func.value)
        if loop is not None:
            return  # ``for p in x.parameters(): p.requires_grad_(False)`` is handled at the loop
        for receiver in _expand(node.func.value, ctx):
            self._emit(ctx, receiver, value, node, None, False)

    def _emit(self, ctx, receiver: ast.expr, requires_grad: bool, where: ast.AST, name_filter, conditional: bool) -> None:
        owner, attr = _owner(receiver, ctx)
        if owner is None:
            if requires_grad:  # something unknown is unfrozen: be careful about this file
                ctx.fact(names.FREEZE, False, where, "?", kind="unfreeze", owner="?", section="?")
            return
        if attr is not None and not _is_encoder_attr(attr) and name_filter is None:
            if not requires_grad or not owner.startswith("var:"):
                return  # freezing a head or a sub-part says nothing about the encoders
        func = ctx.enclosing(ast.FunctionDef, ast.AsyncFunctionDef)
        guarded = conditional or _guarded(ctx, func)
        reachable = _reachable(ctx, func)
        section = attr if attr is not None else "*"
        detail = dict(kind="freeze" if not requires_grad else "unfreeze", owner=owner, section=section,
                      conditional=guarded, reachable=reachable, function=func.name if func is not None else "",
                      how="requires_grad")
        if guarded:
            detail["gate"] = _gate_text(ctx, func)
        if name_filter is not None:
            detail["filter"] = name_filter
        if attr is None and not requires_grad:
            detail["training"] = _trains(ctx, func)
        ctx.fact(names.FREEZE, not requires_grad, where, section, **detail)

    # -- the decision (per recipe) ---------------------------------------------------------
    def check(self, recipe, report) -> None:
        # facts are read in this order, each (place, key, detail) once, and split into code and config:
        # own FREEZE, project FREEZE, own CALLS, project CALLS
        context_keys, context_code, context_freeze, context_calls, code_findings = self._shared(recipe.context)
        seen: set = set()
        own_code_freeze, own_freeze = _split(recipe.all(names.FREEZE), seen)
        own_code_calls, own_calls = _split(recipe.all(CALLS), seen)
        if not own_code_freeze and not own_code_calls and not (seen & context_keys):
            # the usual case: the project's code facts are the same for every recipe of the
            # project, so their deduplication and the code findings are computed once per run
            code = context_code
            config = own_freeze + context_freeze + own_calls + context_calls
        else:
            seen = set()
            code, config = [], []
            for facts in (recipe.all(names.FREEZE), recipe.context_all(names.FREEZE), recipe.all(CALLS), recipe.context_all(CALLS)):
                more_code, more_config = _split(facts, seen)
                code += more_code
                config += more_config
            code_findings = _code_findings(code)
        self._config_part(recipe, config, code, code_findings, report)
        for anchor, related, covered, message in code_findings:
            report(anchor, message, related=related,
                   help="Leave at least one encoder trainable (or unfreeze it after a warm-up phase); if only the "
                        "head should learn on purpose (linear probing), suppress this finding.")

    def _shared(self, context):
        """For a project's fact pool: (its keys, its code facts, its non-code FREEZE and CALLS
        facts, the code findings), deduplicated in the order ``check`` reads them."""
        memo = self.__dict__.setdefault("_memo", {})
        found = memo.get(id(context))
        if found is not None and found[0] is context:
            return found[1]
        seen: set = set()
        code_freeze, config_freeze = _split([f for f in context if f.name == names.FREEZE], seen)
        code_calls, config_calls = _split([f for f in context if f.name == CALLS], seen)
        code = code_freeze + code_calls
        shared = (seen, code, config_freeze, config_calls, _code_findings(code))
        memo[id(context)] = (context, shared)  # the pool is kept, so its id is not reused
        return shared

    def _config_part(self, recipe, config: List[Fact], code: List[Fact], code_findings, report) -> bool:
        own = [f for f in config if f in recipe.all(names.FREEZE)]
        if not own or not all(f.value is True for f in own):
            return False
        sections = {_norm(f.get("section", "")) for f in own}
        for _, _, covered, _ in code_findings:
            if sections <= covered:
                return False  # the code freezes them whatever the config says: that finding stands alone
        anchor = max(own, key=lambda f: (f.span.path, f.span.line, f.span.column))
        related = [(f, f"{f.get('section')} frozen here ({f.key} = {_show(f)})") for f in own if f is not anchor]
        flags = {f.get("via", "").lower() for f in own}
        for fact in code:
            if fact.get("kind") != "freeze":
                continue
            if _norm(fact.get("section", "")) in sections or any(flag and flag in (fact.get("gate") or "").lower() for flag in flags):
                how = "only run under `torch.no_grad()`" if fact.get("how") == "no_grad" else "`requires_grad` turned off"
                gate = f" when `{fact.get('gate')}`" if fact.get("gate") else ""
                related.append((fact, f"code: {fact.get('section')} {how}{gate}"))
        listing = ", ".join(f"{f.get('section')} ({f.key} = {_show(f)}, line {f.span.line})" for f in sorted(own, key=lambda f: f.span.line))
        if len(own) == 1:
            what = f"the only backbone/encoder section of this config is frozen: {listing}"
        else:
            what = f"all {len(own)} backbone/encoder sections of this config are frozen: {listing}"
        message = what + ("; only the heads/fusion layers can learn, so if the frozen features do not already "
                          "separate the classes the loss plateaus whatever the learning rate")
        severity = None
        if _LINEAR_PROBE.search(anchor.span.path.rsplit("/", 1)[-1]):
            severity = "info"
            message += " (the file name suggests linear probing or frozen-feature evaluation, where this is intended)"
        report(anchor, message, severity=severity,
               related=related,
               help="Unfreeze at least one encoder (set its freeze flag to false / lower FREEZE_AT / frozen_stages), "
                    "or fine-tune it with a smaller LR; if this is deliberate linear probing, suppress the finding.")
        return True


def _key(fact: Fact):
    return (fact.span, fact.key, fact.detail)


def _split(facts: List[Fact], seen: set) -> Tuple[List[Fact], List[Fact]]:
    """The facts not yet ``seen`` (by place, key and detail; ``seen`` grows), as (code, config)."""
    code, config = [], []
    for fact in facts:
        key = _key(fact)
        if key not in seen:
            seen.add(key)
            (code if fact.dialect == "code" else config).append(fact)
    return code, config


# -- code helpers ------------------------------------------------------------------------
def _self_attr_call(call: ast.Call) -> Optional[str]:
    """``self.x(...)`` / ``self.x.forward_features(...)`` → ``x``."""
    func = call.func
    chain = []
    while isinstance(func, ast.Attribute):
        chain.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name) and func.id == "self" and chain:
        if len(chain) <= 2:
            return chain[-1]
    return None


def _parameter_sources(iter_expr: ast.expr, loop: ast.AST, ctx) -> List[ast.expr]:
    """Receivers of ``.parameters()``/``.named_parameters()`` an iteration goes over."""
    found = []
    for node in walk(iter_expr):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr in ("parameters", "named_parameters") and not node.args:
            found.extend(_expand(node.func.value, ctx))
    return found


def _expand(receiver: ast.expr, ctx) -> List[ast.expr]:
    """``m`` bound by an enclosing ``for m in [self.a_encoder, self.b_encoder]`` → both; else itself."""
    if isinstance(receiver, ast.Name):
        for ancestor in reversed(ctx.ancestors):
            if isinstance(ancestor, (ast.For, ast.AsyncFor)) and isinstance(ancestor.target, ast.Name) and \
                    ancestor.target.id == receiver.id:
                if isinstance(ancestor.iter, (ast.List, ast.Tuple)):
                    return list(ancestor.iter.elts)
                return []
    return [receiver]


def _loop_vars(target: ast.expr) -> Tuple[Optional[str], bool]:
    if isinstance(target, ast.Name):
        return target.id, False
    if isinstance(target, ast.Tuple) and len(target.elts) == 2 and all(isinstance(e, ast.Name) for e in target.elts):
        return f"{target.elts[0].id}\0{target.elts[1].id}", True
    return None, False


def _requires_grad_sets(loop: ast.AST, var: str):
    """(statement, requires_grad value, [(if test, in_else)]) for ``p.requires_grad = X`` / ``p.requires_grad_(X)``."""
    param = var.split("\0")[-1]
    out = []

    def visit(stmts, tests):
        for stmt in stmts:
            if isinstance(stmt, ast.If):
                visit(stmt.body, tests + [(stmt.test, False)])
                visit(stmt.orelse, tests + [(stmt.test, True)])
            elif isinstance(stmt, (ast.With, ast.AsyncWith, ast.Try)):
                visit(stmt.body, tests)
            elif isinstance(stmt, (ast.For, ast.While, ast.AsyncFor)):
                continue
            elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                target = stmt.targets[0]
                if isinstance(target, ast.Attribute) and target.attr == "requires_grad" and \
                        isinstance(target.value, ast.Name) and target.value.id == param and \
                        isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, bool):
                    out.append((stmt, stmt.value.value, tests))
            elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
                call = stmt.value
                if call_name(call) == "requires_grad_" and isinstance(call.func, ast.Attribute) and \
                        isinstance(call.func.value, ast.Name) and call.func.value.id == param:
                    arg = call.args[0] if call.args else None
                    if arg is None:
                        out.append((stmt, True, tests))
                    elif isinstance(arg, ast.Constant) and isinstance(arg.value, bool):
                        out.append((stmt, arg.value, tests))

    visit(loop.body, [])
    return out


def _filter_from(tests, named: bool):
    """A parameter-name filter (``"backbone" in name``) → ("contains"|"prefix", words, inverted); else conditional."""
    if not tests:
        return None, False
    if not named or len(tests) != 1:
        return None, True
    test, in_else = tests[0]
    inverted = in_else
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        test, inverted = test.operand, not inverted
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.left, ast.Constant) and \
            isinstance(test.left.value, str):
        if isinstance(test.ops[0], ast.In):
            return ("contains", (test.left.value,), inverted), False
        if isinstance(test.ops[0], ast.NotIn):
            return ("contains", (test.left.value,), not inverted), False
    if isinstance(test, ast.Call) and call_name(test) == "startswith" and test.args:
        arg = test.args[0]
        words = [arg] if isinstance(arg, ast.Constant) else list(arg.elts) if isinstance(arg, ast.Tuple) else []
        if words and all(isinstance(w, ast.Constant) and isinstance(w.value, str) for w in words):
            return ("prefix", tuple(w.value for w in words), inverted), False
    return None, True


def _enclosing_parameter_loop(ctx, receiver: ast.expr):
    if not isinstance(receiver, ast.Name):
        return None
    for ancestor in reversed(ctx.ancestors):
        if isinstance(ancestor, (ast.For, ast.AsyncFor)):
            var, _ = _loop_vars(ancestor.target)
            if var and receiver.id == var.split("\0")[-1] and _parameter_sources(ancestor.iter, ancestor, ctx):
                return ancestor
    return None


def _owner(receiver: ast.expr, ctx) -> Tuple[Optional[str], Optional[str]]:
    """(owner, attr): ``self.video_encoder`` in class C → ("cls:C", "video_encoder"); ``model.module.backbone``
    → ("var:model", "backbone"); ``model`` → ("var:model", None); ``self`` → ("cls:C", None)."""
    text = dotted(receiver)
    if not text:
        return None, None
    parts = text.split(".")
    parts = parts[:1] + [p for p in parts[1:] if p != "module"]  # DDP: model.module.backbone
    if parts[0] == "self":
        klass = ctx.enclosing(ast.ClassDef)
        if klass is None:
            return None, None
        if len(parts) == 1:
            return f"cls:{klass.name}", None
        if len(parts) == 2:
            return f"cls:{klass.name}", parts[1]
        if len(parts) == 3:
            return f"var:{parts[1]}", parts[2]
        return None, None
    if len(parts) == 1:
        return f"var:{parts[0]}", None
    if len(parts) == 2:
        return f"var:{parts[0]}", parts[1]
    return None, None


def _guarded(ctx, func) -> bool:
    for ancestor in reversed(ctx.ancestors):
        if ancestor is func:
            return False
        if isinstance(ancestor, (ast.If, ast.IfExp, ast.While, ast.ExceptHandler)):
            return True
        if isinstance(ancestor, (ast.For, ast.AsyncFor)) and not isinstance(ancestor.iter, (ast.List, ast.Tuple)) and \
                not _parameter_sources(ancestor.iter, ancestor, ctx):
            return True  # ``for name in cfg.freeze: ...``
    return False


def _gate_text(ctx, func) -> str:
    for ancestor in reversed(ctx.ancestors):
        if ancestor is func:
            break
        if isinstance(ancestor, (ast.If, ast.IfExp, ast.While)):
            return describe(ancestor.test, 120)
    return ""


def _reachable(ctx, func):
    """True, False, or ``"call:<name>"``: reachable if some file of the project calls ``name``."""
    if func is None:
        return True
    index = file_index(ctx)
    for ancestor in ctx.ancestors:
        if isinstance(ancestor, (ast.FunctionDef, ast.AsyncFunctionDef)) and _EXPORTISH.search(ancestor.name):
            return False
    if func.name in ("__init__", "__post_init__") or func.name in index.called or _ENTRY.match(func.name):
        return True
    return f"call:{func.name}" if _trainingish(func.name) else False


def _trains(ctx, func) -> bool:
    scope = func if func is not None else ctx.doc.tree
    info = analyse_function(scope, ctx)
    if info.of("backward", "step"):
        return True
    return any(e.kind == "assign" and constructor_role(e.value) == "optimizer" for e in info.events)


# -- the decision ------------------------------------------------------------------------
def _matches(attr: str, name_filter) -> bool:
    """Whether a filter freezes every parameter of ``attr`` (parameter names start ``attr.``)."""
    mode, words, inverted = name_filter
    full = attr + "."
    if mode == "contains":
        hit = any(w in full for w in words)
    else:
        hit = any(full.startswith(w) or attr == w for w in words)
    return not hit if inverted else hit


def _code_findings(code: List[Fact]):
    declared: Dict[str, Dict[str, Fact]] = {}
    for fact in code:
        if fact.get("kind") == "declared":
            declared.setdefault(fact.get("owner"), {}).setdefault(fact.get("section"), fact)
    unfreezes = [f for f in code if f.get("kind") == "unfreeze"]
    called = {name for f in code if f.get("kind") == "calls" for name in f.value}

    def reachable(fact: Fact) -> bool:
        state = fact.get("reachable")
        if isinstance(state, str) and state.startswith("call:"):
            return state[5:] in called
        return bool(state)

    freezes = [f for f in code if f.get("kind") == "freeze" and not f.get("conditional") and reachable(f)]
    unknown_unfreeze_files = {f.span.path for f in unfreezes if f.get("owner") == "?"}
    freezes = [f for f in freezes if f.span.path not in unknown_unfreeze_files]

    def unfrozen(owner: str, attr: Optional[str]) -> bool:
        for fact in unfreezes:
            if fact.get("owner") != owner:
                continue
            section = fact.get("section")
            if section == "*" or attr is None or section == attr:
                return True
            if fact.get("filter") and _matches(attr, fact.get("filter")):
                return True
            if not _is_encoder_attr(section or ""):
                return attr is None  # a head unfrozen after a wholesale freeze
        return False

    findings = []
    by_owner: Dict[str, List[Fact]] = {}
    for fact in freezes:
        by_owner.setdefault(fact.get("owner"), []).append(fact)
    for owner, facts in sorted(by_owner.items()):
        wholesale = [f for f in facts if f.get("section") == "*" and not f.get("filter")]
        if owner.startswith("var:") and wholesale and _MODEL_VAR.match(owner[4:]):
            for fact in wholesale:
                if fact.get("training") and not unfrozen(owner, None):
                    findings.append((fact, [], set(), (
                        f"every parameter of `{owner[4:]}` is frozen (`{fact.key}` wholesale, in "
                        f"`{fact.get('function') or 'module code'}`) and nothing is unfrozen afterwards, yet this code "
                        f"trains it: no backbone/encoder (and no head) can learn")))
                    break
            continue
        candidates = [(owner, declared[owner])] if owner in declared else []
        if owner.startswith("var:"):
            frozen_attrs = {f.get("section") for f in facts}
            candidates = [(o, attrs) for o, attrs in declared.items() if set(attrs) & frozen_attrs]
        for klass, attrs in candidates:
            covered: Dict[str, Fact] = {}
            for attr in attrs:
                for fact in facts:
                    section, name_filter = fact.get("section"), fact.get("filter")
                    if (name_filter and _matches(attr, name_filter)) or (not name_filter and section in (attr, "*")):
                        covered.setdefault(attr, fact)
            if set(covered) != set(attrs) or any(unfrozen(owner, a) or unfrozen(klass, a) for a in attrs):
                continue
            if len(attrs) < 2 and not all(f.get("complete", True) for f in attrs.values()):
                continue  # a base class from another file may declare more (trainable) encoders
            anchor = max(covered.values(), key=lambda f: (f.span.path, f.span.line))
            related = [(f, f"{a} frozen here") for a, f in covered.items() if f is not anchor]
            related += [(declared[klass][a], f"{a} declared here") for a in attrs if a in declared.get(klass, {})][:4]
            listing = ", ".join(f"`{a}`" for a in sorted(attrs))
            count = (f"all {len(attrs)} encoder/backbone attributes of `{klass[4:]}` ({listing}) are" if len(attrs) > 1
                     else f"the only encoder/backbone attribute of `{klass[4:]}` ({listing}) is")
            how = sorted({f.get("how") for f in covered.values()})
            off = "run only under `torch.no_grad()`" if how == ["no_grad"] else "frozen (`requires_grad` off)"
            findings.append((anchor, related, {_norm(a) for a in attrs}, (
                f"{count} {off} and never unfrozen: only "
                f"the heads/fusion layers can learn, so if the frozen features do not already separate the classes "
                f"the loss plateaus whatever the learning rate")))
    return findings


def _show(fact: Fact) -> str:
    via = fact.get("via")
    if via == "FREEZE_AT":
        return f"{fact.get('freeze_at')}"
    if via == "frozen_stages":
        return f"{fact.get('frozen_stages')} of {fact.get('num_stages')} stages"
    return str(fact.get("raw", fact.value))
