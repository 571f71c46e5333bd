from modellint.code.loops import (
    LoopRule,
    analyse_loop,
    describe,
    file_index,
    is_prefix,
    last,
)
from modellint.code.walk import walk
from modellint.fixes import SAFE, PySource, attach, edit, make_fix
from modellint.rule import fixes, flag, ok


class SchedulerStepBeforeOptimizerStep(LoopRule):
    code = "ML403"
    name = "scheduler-step-before-optimizer-step"
    severity = "warning"
    summary = "scheduler.step() runs before optimizer.step() in the same loop, so the first LR value is skipped."
    rationale = (
        "Since PyTorch 1.1 a scheduler is stepped after the optimizer: `scheduler.step()` moves to the next "
        "LR value. Stepping it first means the first value of the schedule (the warmup start, the initial LR of "
        "a step schedule) is never used, and a per-epoch schedule stepped at the start of each epoch runs one "
        "epoch ahead; PyTorch warns \"Detected call of `lr_scheduler.step()` before `optimizer.step()`\". "
        "Only argument-less `step()` calls are judged: `step(epoch)` (timm, resuming with "
        "`lr_scheduler.step(start_epoch)`), `step(val_loss)` (ReduceLROnPlateau) and `step_update(n)` set the "
        "position explicitly. A per-epoch step after the inner loop's optimizer steps is the right order."
    )
    fix = "Move `scheduler.step()` after `optimizer.step()` (per-iteration schedulers) or to the end of the epoch (per-epoch schedulers)."
    examples = (
        flag("train.py", """
            import torch

            def train(model, loader, epochs):
                optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
                scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30)
                for epoch in range(epochs):
                    for x, y in loader:
                        optimizer.zero_grad()
                        scheduler.step()
                        loss = torch.nn.functional.cross_entropy(model(x), y)
                        loss.backward()
                        optimizer.step()
            """, line=9, title="per-iteration scheduler stepped before the optimizer"),
        flag("train.py", """
            import torch

            def train(model, loader, optimizer, epochs):
                lr_sched = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[30, 60])
                for epoch in range(epochs):
                    lr_sched.step()
                    for x, y in loader:
                        optimizer.zero_grad()
                        model(x, y).backward()
                        optimizer.step()
            """, line=6, title="per-epoch scheduler stepped at the start of the epoch"),
        flag("train.py", """
            from transformers import get_linear_schedule_with_warmup

            def train(model, loader, optimizer, accum):
                warmup = get_linear_schedule_with_warmup(optimizer, 500, 10000)
                for i, batch in enumerate(loader):
                    loss = model(**batch).loss / accum
                    loss.backward()
                    if (i + 1) % accum == 0:
                        warmup.step()
                        optimizer.step()
                        optimizer.zero_grad()
            """, line=9, title="the warmup scheduler's first value is skipped"),
        ok("train.py", """
            import torch

            def train(model, loader, optimizer, epochs):
                scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
                for epoch in range(epochs):
                    for x, y in loader:
                        optimizer.zero_grad()
                        model(x, y).backward()
                        optimizer.step()
                    scheduler.step()
            """, title="per-epoch step after the inner loop's optimizer steps"),
        ok("train.py", """
            def main(model, loader, optimizer, lr_scheduler, start_epoch, num_epochs):
                if start_epoch > 0:
                    lr_scheduler.step(start_epoch)
                for epoch in range(start_epoch, num_epochs):
                    num_updates = epoch * len(loader)
                    for x, y in loader:
                        optimizer.zero_grad()
                        model(x, y).backward()
                        optimizer.step()
                        num_updates += 1
                        lr_scheduler.step_update(num_updates=num_updates)
                    lr_scheduler.step(epoch + 1)
            """, title="timm: stepped once before the loop to resume, step(epoch) after"),
        ok("train.py", """
            import torch

            def train(model, loader, val_loader, optimizer, evaluate):
                plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5)
                for epoch in range(100):
                    for x, y in loader:
                        optimizer.zero_grad()
                        model(x, y).backward()
                        optimizer.step()
                    val_loss = evaluate(model, val_loader)
                    plateau.step(val_loss)
            """, title="ReduceLROnPlateau stepped with the validation loss after the epoch"),
        ok("train_gan.py", """
            def train(loader, step_d, step_g, opt_d, opt_g, sched_d, sched_g):
                for real in loader:
                    opt_d.zero_grad()
                    step_d(real).backward()
                    opt_d.step()
                    sched_d.step()
                    opt_g.zero_grad()
                    step_g(real).backward()
                    opt_g.step()
                    sched_g.step()
            """, title="two optimizers, each scheduler after its own optimizer"),
        ok("train.py", """
            def train(model, loader, optimizer, scheduler, epochs):
                for epoch in range(epochs):
                    if epoch > 0:
                        scheduler.step()
                    for x, y in loader:
                        optimizer.zero_grad()
                        model(x, y).backward()
                        optimizer.step()
            """, title="guarded so the first epoch keeps the first LR"),
        fixes("train.py", """
            import torch

            def train(model, loader, optimizer, scheduler):
                for x, y in loader:
                    optimizer.zero_grad()
                    scheduler.step()  # per-iteration warmup
                    loss = torch.nn.functional.cross_entropy(model(x), y)
                    loss.backward()
                    optimizer.step()
                    print(loss.item())
            """, """
            import torch

            def train(model, loader, optimizer, scheduler):
                for x, y in loader:
                    optimizer.zero_grad()
                    loss = torch.nn.functional.cross_entropy(model(x), y)
                    loss.backward()
                    optimizer.step()
                    scheduler.step()  # per-iteration warmup
                    print(loss.item())
            """, title="fix: the scheduler step moves after the optimizer step"),
        fixes("train.py", """
            from transformers import get_linear_schedule_with_warmup

            def train(model, loader, optimizer, accum):
                warmup = get_linear_schedule_with_warmup(optimizer, 500, 10000)
                for i, batch in enumerate(loader):
                    (model(**batch).loss / accum).backward()
                    if (i + 1) % accum == 0:
                        warmup.step()
                        optimizer.step()
                        optimizer.zero_grad()
            """, """
            from transformers import get_linear_schedule_with_warmup

            def train(model, loader, optimizer, accum):
                warmup = get_linear_schedule_with_warmup(optimizer, 500, 10000)
                for i, batch in enumerate(loader):
                    (model(**batch).loss / accum).backward()
                    if (i + 1) % accum == 0:
                        optimizer.step()
                        warmup.step()
                        optimizer.zero_grad()
            """, title="fix: inside the accumulation branch"),
    )

    def wants(self, text: str) -> bool:
        # cheap text pre-filter: no need to analyse loops otherwise
        return "step" in text

    def _check(self, loop, ctx) -> None:
        # the scheduler steps judged below are calls of ``.step``/``.step_update`` in the loop
        # itself (never in a helper it calls): a loop without "step" on its lines has none
        if ctx.prefilter and not ctx.doc.mentions(("step",), loop):
            return
        info = analyse_loop(loop, ctx)
        steps = [e for e in info.events if e.kind == "step" and not e.ambiguous]
        if not steps:
            return
        index = file_index(ctx)
        for sched in info.events:
            if sched.kind != "sched_step" or sched.has_args or sched.ambiguous or sched.helper or sched.loops:
                continue  # a step inside an inner loop is judged when that loop is visited
            if any(g[0] in ("except", "def") for g in sched.guards):
                continue
            if index.is_plateau(sched.receiver):
                continue
            paired = index.scheduler_optimizer(sched.receiver)
            mine = [s for s in steps if last(s.receiver) == paired] if paired else []
            pool = mine or steps
            first = pool[0]
            if first.order < sched.order:
                continue
            if not is_prefix(sched.guards, first.guards):
                continue  # the scheduler step is under its own condition (``if epoch > 0``)
            inner = len(first.loops) > len(sched.loops)
            where = "at the start of each pass, before the inner loop's" if inner else "before"
            ctx.report(
                self, sched.node,
                f"`{describe(sched.node)}` runs {where} `{describe(first.node)}` (line {first.where.lineno}): "
                f"the scheduler advances before the first update, so the first LR value of the schedule is skipped "
                f"and every later value is used one {'epoch' if inner else 'step'} early",
                help=f"Move `{describe(sched.node)}` after `{describe(first.node)}`"
                     + (" (after the inner loop)." if inner else "."),
            )
            if not inner and not first.helper:
                attach(ctx, _move_fix(ctx, loop, sched.node, first.node))


def _move_fix(ctx, loop, sched_call, opt_call):
    """Move the ``scheduler.step()`` line right after the ``optimizer.step()`` line when both are
    plain expression statements of one block, each alone on its lines (comments travel along)."""
    import ast

    for node in walk(loop):
        for field in ("body", "orelse", "finalbody"):
            block = getattr(node, field, None)
            if not isinstance(block, list):
                continue
            at = {id(stmt.value): i for i, stmt in enumerate(block) if isinstance(stmt, ast.Expr)}
            i, j = at.get(id(sched_call)), at.get(id(opt_call))
            if i is None or j is None:
                continue
            if i >= j:
                return None
            sched, opt = block[i], block[j]
            src = PySource.of(ctx)
            if not (src.alone_on_lines(sched) and src.alone_on_lines(opt)):
                return None
            moved = "".join(src.line(n) for n in range(sched.lineno, sched.end_lineno + 1))
            delete = edit(src.path, sched.lineno, 1, sched.end_lineno + 1, 1, "")
            last = src.line(opt.end_lineno)
            if last.endswith(("\n", "\r")):
                insert = src.insert(opt.end_lineno + 1, 1, moved)
            else:  # the optimizer step ends the file without a newline
                newline = moved[len(moved.rstrip("\r\n")):] or "\n"
                insert = src.insert(opt.end_lineno, len(last) + 1, newline + moved.rstrip("\r\n"))
            return make_fix(SAFE, f"Move `{describe(sched_call)}` after `{describe(opt_call)}`", [delete, insert])
    return None
