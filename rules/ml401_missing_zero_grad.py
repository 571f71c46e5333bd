from modellint.code.loops import LoopRule, OPTIMIZER, analyse_loop, describe, file_index, last, loops_holding
from modellint.rule import flag, ok


class MissingZeroGrad(LoopRule):
    code = "ML401"
    name = "missing-zero-grad"
    severity = "error"
    summary = "A training loop calls backward() and optimizer.step() but never clears the gradients."
    rationale = (
        "PyTorch adds every `backward()` into `.grad`; nothing clears it except `zero_grad()` (or "
        "`p.grad = None`). Without it, step N applies the sum of the gradients of steps 1..N: the update "
        "grows every iteration, the effective learning rate explodes and training diverges or oscillates. "
        "Gradient accumulation that zeroes only every k micro-batches (under an `if`) is correct and not "
        "flagged, and neither is a loop whose step or zeroing happens in a helper: a helper defined in the "
        "same file is read, one imported from elsewhere is trusted. `accelerator.backward(loss)`, "
        "`scaler.scale(loss).backward()` and `scaler.step(optimizer)` are a backward and a step like any other; "
        "engines that step and zero themselves (DeepSpeed `model_engine.step()`) are not optimizers."
    )
    fix = "Call `optimizer.zero_grad(set_to_none=True)` once per optimizer step (right after `optimizer.step()` or before the forward pass)."
    examples = (
        flag("train.py", """
            import torch

            def train(model, loader, epochs):
                optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
                criterion = torch.nn.CrossEntropyLoss()
                for epoch in range(epochs):
                    for images, labels in loader:
                        loss = criterion(model(images), labels)
                        loss.backward()
                        optimizer.step()
            """, line=10, title="backward and step, nothing clears .grad"),
        flag("train.py", """
            import torch

            def fit(net, batches, opt):
                opt.zero_grad()
                for step, (x, y) in enumerate(batches):
                    loss = torch.nn.functional.mse_loss(net(x), y)
                    loss.backward()
                    if (step + 1) % 4 == 0:
                        opt.step()
            """, line=9, title="zeroed once before the loop: every later step sums all earlier gradients"),
        flag("train_amp.py", """
            import torch

            def run(model, data, optimizer, scaler):
                for batch in data:
                    with torch.autocast("cuda"):
                        loss = model(**batch).loss
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
            """, line=8, title="scaler.step(optimizer) is a step"),
        flag("trainer.py", """
            class Trainer:
                def __init__(self, model, optimizer, accelerator):
                    self.model = model
                    self.optimizer = optimizer
                    self.accelerator = accelerator

                def train_epoch(self, loader):
                    for batch in loader:
                        loss = self.model(**batch).loss
                        self.accelerator.backward(loss)
                        self.optimizer.step()
            """, line=11, title="accelerator.backward does not zero gradients"),
        ok("train.py", """
            import torch

            def train(model, loader, optimizer, accum_steps=8):
                for i, (x, y) in enumerate(loader):
                    loss = torch.nn.functional.cross_entropy(model(x), y) / accum_steps
                    loss.backward()
                    if (i + 1) % accum_steps == 0:
                        optimizer.step()
                        optimizer.zero_grad(set_to_none=True)
            """, title="gradient accumulation: zeroed under an if"),
        ok("train.py", """
            def train(model, loader, optimizer, scaler):
                for batch in loader:
                    loss = model(batch)
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                    model.zero_grad()
            """, title="model.zero_grad() counts"),
        ok("train.py", """
            def train(model, loader, optimizer):
                for x, y in loader:
                    for p in model.parameters():
                        p.grad = None
                    loss = model(x, y)
                    loss.backward()
                    optimizer.step()
            """, title="p.grad = None counts"),
        ok("train.py", """
            def clear(optimizer):
                optimizer.zero_grad(set_to_none=True)

            def train(model, loader, optimizer):
                for x, y in loader:
                    loss = model(x, y)
                    loss.backward()
                    optimizer.step()
                    clear(optimizer)
            """, title="zero_grad in a helper defined in the same file"),
        ok("train.py", """
            class Loop:
                def _optimizer_step(self):
                    self.optimizer.step()
                    self.optimizer.zero_grad()

                def run(self, loader):
                    for batch in loader:
                        loss = self.model(batch)
                        loss.backward()
                        self.optimizer.step() if self.manual else self._optimizer_step()
            """, title="zero_grad in a method of the same class"),
        ok("train.py", """
            from mylib.engine import optimizer_step

            def train(model, loader, optimizer):
                for batch in loader:
                    loss = model(batch)
                    loss.backward()
                    optimizer_step(optimizer, model)
            """, title="stepping delegated to a helper that is not visible"),
        ok("train_ds.py", """
            import deepspeed

            def train(model, loader, args):
                model_engine, optimizer, _, _ = deepspeed.initialize(args=args, model=model)
                for batch in loader:
                    loss = model_engine(batch)
                    model_engine.backward(loss)
                    model_engine.step()
            """, title="DeepSpeed engine steps and zeroes itself"),
        ok("train.py", """
            import torch

            def train(model, loader):
                optimizer = torch.optim.LBFGS(model.parameters())
                for x, y in loader:
                    def closure():
                        optimizer.zero_grad()
                        loss = torch.nn.functional.mse_loss(model(x), y)
                        loss.backward()
                        return loss
                    optimizer.step(closure)
            """, title="LBFGS closure zeroes"),
        flag("gan.py", """
            def train(loader, netD, netG, opt_d, opt_g, bce):
                for real, noise in loader:
                    opt_d.zero_grad()
                    d_loss = bce(netD(real), 1) + bce(netD(netG(noise).detach()), 0)
                    d_loss.backward()
                    opt_d.step()
                    g_loss = bce(netD(netG(noise)), 1)
                    g_loss.backward()
                    opt_g.step()
            """, line=9, title="two optimizers, only one zeroed"),
        ok("gan.py", """
            def train(loader, netD, netG, opt_d, opt_g, bce):
                for real, noise in loader:
                    netD.zero_grad()
                    d_loss = bce(netD(real), 1)
                    d_loss.backward()
                    opt_d.step()
                    netG.zero_grad()
                    g_loss = bce(netD(netG(noise)), 1)
                    g_loss.backward()
                    opt_g.step()
            """, title="each network zeroed through the model"),
        ok("train.py", """
            def train(model, batches, optimizer, accum):
                for step in range(1000):
                    for micro in range(accum):
                        loss = model(next(batches)) / accum
                        loss.backward()
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
            """, title="micro-batch loop accumulates, outer loop steps and zeroes"),
    )

    def wants(self, text: str) -> bool:
        # cheap text pre-filter: no need to analyse loops otherwise
        return "step" in text and "backward" in text

    def _check(self, loop, ctx) -> None:
        info = analyse_loop(loop, ctx)
        events = info.events
        # backward/step seen only through an ambiguous helper name are not evidence
        backwards = [e for e in events if e.kind == "backward" and not e.ambiguous]
        steps = [e for e in events if e.kind == "step" and not e.ambiguous]
        if not backwards or not steps:
            return
        if loops_holding(backwards + steps, "backward", "step"):
            return  # an inner loop backwards and steps: that loop is judged on its own
        zeros = [e for e in events if e.kind == "zero_grad"]
        index = file_index(ctx)
        if zeros and not all(e.receiver and index.role(e.receiver) == OPTIMIZER for e in zeros):
            return  # model.zero_grad(), p.grad = None, a helper: assume every parameter is cleared
        zeroed = {last(e.receiver) for e in zeros}
        stepped = {last(e.receiver) for e in steps}
        if zeroed and len(stepped) < 2:
            return  # one optimizer stepped and one zeroed: the same one under another name (``opt = self.optimizer``)
        missing = [e for e in steps if last(e.receiver) not in zeroed]
        if not missing:
            return
        step, backward = missing[0], backwards[0]
        optimizer = last(step.receiver) or "the optimizer"
        via = f" (in `{step.helper}()`)" if step.helper else ""
        others = f" (only {', '.join(sorted('`%s`' % z for z in zeroed))} is zeroed)" if zeroed else ""
        ctx.report(
            self, step.where,
            f"this loop calls `{describe(backward.node)}` (line {backward.where.lineno}) and `{describe(step.node)}`{via} "
            f"but never zeroes `{optimizer}`'s gradients{others}: each step applies the sum of all earlier gradients, "
            f"so updates grow every iteration and training diverges",
            help=f"Call `{optimizer}.zero_grad(set_to_none=True)` once per step, e.g. right after `{optimizer}.step()`.",
        )
