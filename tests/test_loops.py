"""The training-loop analysis layer (modellint/code/loops.py)."""

import ast
import textwrap

from modellint.code import loops
from modellint.code.traversal import PyContext, traverse
from modellint.parsing.python_doc import parse_python


class _Collect:
    """Analyses every loop (or function) during the one traversal, as a rule would."""

    def __init__(self, follow=True):
        self.follow = follow
        self.loops = []
        self.functions = []

    def visit_For(self, node, ctx):
        self.loops.append(loops.analyse_loop(node, ctx, follow_helpers=self.follow))

    def visit_While(self, node, ctx):
        self.loops.append(loops.analyse_loop(node, ctx, follow_helpers=self.follow))

    def visit_FunctionDef(self, node, ctx):
        self.functions.append((node.name, loops.analyse_function(node, ctx), ctx))


def run(source, follow=True):
    doc, problems = parse_python(textwrap.dedent(source), "t.py")
    assert doc is not None, problems
    ctx = PyContext(doc)
    visitor = _Collect(follow)
    traverse(ctx, [visitor])
    assert not ctx.crashes, ctx.crashes
    return visitor, ctx


def kinds(info, *wanted):
    return [(e.kind, e.receiver) for e in info.events if e.kind in wanted]


def test_events_in_source_order_through_nested_blocks():
    visitor, _ = run("""
        import torch

        def train(model, loader, optimizer, scheduler, scaler):
            for i, (x, y) in enumerate(loader):
                with torch.autocast("cuda"):
                    loss = model(x, y)
                scaler.scale(loss).backward()
                if (i + 1) % 4 == 0:
                    try:
                        scaler.step(optimizer)
                    finally:
                        scaler.update()
                    optimizer.zero_grad(set_to_none=True)
                    scheduler.step()
        """)
    info = visitor.loops[0]
    assert kinds(info, "backward", "step", "zero_grad", "sched_step") == [
        ("backward", ""), ("step", "optimizer"), ("zero_grad", "optimizer"), ("sched_step", "scheduler")]
    backward = info.first("backward")
    assert ast.unparse(backward.loss) == "loss"  # scaler.scale(loss).backward() differentiates loss
    step = info.first("step")
    assert step.guards and step.guards[0][0] == "if"
    assert not backward.guards


def test_backward_through_wrappers_names_the_loss():
    visitor, _ = run("""
        def run(accelerator, fabric, model, loader):
            for batch in loader:
                accelerator.backward(batch_loss)
                fabric.backward(other_loss)
                (third_loss / 4).backward()
                self.manual_backward(fourth)
        """)
    losses = [ast.unparse(e.loss) for e in visitor.loops[0].of("backward")]
    assert losses == ["batch_loss", "other_loss", "third_loss / 4", "fourth"]


def test_roles_from_constructors_and_names():
    visitor, ctx = run("""
        import torch
        from transformers import get_cosine_schedule_with_warmup

        adam = torch.optim.Adam(params, lr=1e-3)
        warm = get_cosine_schedule_with_warmup(adam, 100, 1000)
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(adam)
        """)
    index = loops.file_index(ctx)
    assert index.role("adam") == loops.OPTIMIZER
    assert index.role("warm") == loops.SCHEDULER
    assert index.role("self.optimizer") == loops.OPTIMIZER
    assert index.role("opt_g") == loops.OPTIMIZER
    assert index.role("optD") == loops.OPTIMIZER
    assert index.role("lr_scheduler") == loops.SCHEDULER
    assert index.role("options") is None
    assert index.role("model") is None
    assert index.scheduler_optimizer("warm") == "adam"
    assert index.is_plateau("plateau")
    assert not index.is_plateau("warm")


def test_zeroing_forms():
    visitor, _ = run("""
        def train(model, loader, opt):
            for x in loader:
                for p in model.parameters():
                    p.grad = None
                model.zero_grad()
                p.grad.zero_()
                del p.grad
        """)
    outer = visitor.loops[0]
    assert len(outer.of("zero_grad")) == 4
    grad_none = outer.of("zero_grad")[0]
    assert grad_none.loops  # inside the nested parameter loop


def test_helpers_defined_in_the_same_file_are_followed():
    visitor, _ = run("""
        def clear(opt):
            opt.zero_grad()

        class Trainer:
            def _update(self):
                self.optimizer.step()

            def fit(self, loader):
                for batch in loader:
                    self.model(batch).backward()
                    self._update()
                    clear(self.optimizer)
                    imported_helper(batch)
        """)
    info = visitor.loops[0]
    step = info.first("step")
    assert step.helper == "_update" and isinstance(step.site, ast.Call)
    assert step.where.lineno == 12  # reported at the call in the loop
    zero = info.first("zero_grad")
    assert zero.helper == "clear"
    assert ("helper", id(step.site)) in step.guards


def test_helpers_not_followed_when_disabled():
    visitor, _ = run("""
        def clear(opt):
            opt.zero_grad()

        def train(loader, opt):
            for x in loader:
                clear(opt)
        """, follow=False)
    assert not visitor.loops[0].of("zero_grad")


def test_no_grad_blocks_and_decorators():
    visitor, _ = run("""
        import torch

        @torch.no_grad()
        def evaluate(model, loader):
            total = 0
            for x in loader:
                total += model(x)

        def train(model, loader):
            total = 0
            for x in loader:
                with torch.inference_mode():
                    a = model(x)
                b = model(x)
                total += b
        """)
    decorated, plain = visitor.loops
    assert all(e.no_grad for e in decorated.of("accumulate"))
    assigns = {e.targets[0]: e.no_grad for e in plain.of("assign")}
    assert assigns == {"a": True, "b": False}
    accumulate = plain.first("accumulate")
    assert accumulate.targets == ("total",) and ast.unparse(accumulate.value) == "b"


def test_accumulate_forms():
    visitor, _ = run("""
        def f(loader):
            for x in loader:
                total = total + x * 2
                stats["loss"] += x
                count -= 1
        """)
    events = visitor.loops[0].of("accumulate", "assign")
    assert [(e.kind, e.targets) for e in events] == [
        ("accumulate", ("total",)), ("accumulate", ("stats",)), ("assign", ("count",))]
    assert ast.unparse(events[0].value) == "x * 2"


def test_loops_holding_and_prefix():
    visitor, _ = run("""
        def f(loader, optimizer, micro):
            for step in range(10):
                for m in range(micro):
                    loss.backward()
                optimizer.step()
        """)
    outer = visitor.loops[0]
    assert not loops.loops_holding(outer.events, "backward", "step")
    backward, step = outer.first("backward"), outer.first("step")
    assert backward.loops and not step.loops
    assert loops.is_prefix(step.guards, backward.guards)
    assert not loops.is_prefix(backward.guards, step.guards)


def test_function_summary_and_value_before():
    visitor, ctx = run("""
        def evaluate(scores):
            pred = scores.argmax(1)
            pred = pred * 2
            return pred
        """)
    name, info, _ = visitor.functions[0]
    assert name == "evaluate"
    func = ctx.doc.tree.body[0]
    ret = func.body[-1]
    assert ast.unparse(loops.value_before(func, "pred", ret, ctx)) == "pred * 2"
    second = func.body[1]
    assert ast.unparse(loops.value_before(func, "pred", second.value, ctx)) == "scores.argmax(1)"


def test_file_index_functions_and_calls():
    _, ctx = run("""
        import torch

        def helper():
            pass

        class Model:
            def forward(self, x):
                return helper()

        with torch.no_grad():
            run_eval()
        """)
    index = loops.file_index(ctx)
    assert "helper" in index.functions and "forward" in index.functions
    assert index.owner[id(index.functions["forward"][0])] == "Model"
    assert {"helper", "run_eval"} <= index.called
    assert "run_eval" in index.no_grad_calls and "helper" not in index.no_grad_calls


def test_file_index_walks_the_module_only_when_asked_about_bindings_or_calls():
    doc, _ = parse_python(textwrap.dedent("""
        import torch

        opt = torch.optim.SGD(params, lr=0.1)
        sched, other = torch.optim.lr_scheduler.StepLR(opt, 10), 3

        def train():
            with torch.no_grad():
                evaluate()
        """), "train.py")
    index = loops.file_index(PyContext(doc))
    assert "train" in index.functions and index._tree is not None  # definitions only so far
    assert [ast.unparse(v) for v in index.bindings["opt"]] == ["torch.optim.SGD(params, lr=0.1)"]
    assert index._tree is None  # walked once, now
    assert [ast.unparse(v) for v in index.bindings["sched"]] == ["torch.optim.lr_scheduler.StepLR(opt, 10)"]
    assert index.bindings["other"][0].value == 3
    assert {"SGD", "StepLR", "no_grad", "evaluate"} <= index.called
    assert "evaluate" in index.no_grad_calls and "SGD" not in index.no_grad_calls


def test_name_tokens():
    assert loops.name_tokens("optG") == ["opt", "g"]
    assert loops.name_tokens("lr_scheduler2") == ["lr", "scheduler"]
    assert loops.name_tokens("trainLoader") == ["train", "loader"]
