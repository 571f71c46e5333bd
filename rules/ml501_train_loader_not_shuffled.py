import ast
import re
from typing import List, Optional

from modellint.code.loops import describe, file_index, name_tokens, scope_nodes
from modellint.code.names import call_name, dotted, keyword
from modellint.code.walk import walk
from modellint.lazy_re import lazy
from modellint.rule import CodeRule, flag, ok

TRAIN_TOKENS = frozenset({"train", "training", "trainset", "traindata", "trainds", "traindl", "trainloader",
                          "pretrain", "pretraining", "trn"})
EVAL_TOKENS = frozenset({"val", "valid", "validation", "test", "testing", "eval", "evaluation", "dev", "pred",
                         "predict", "prediction", "infer", "inference", "calib", "calibration", "holdout",
                         "valset", "testset", "valloader", "testloader", "query", "gallery", "benchmark"})
_ITERABLE = lazy(r"iterable|webdataset|\bwds\b|stream|shard|shuffle", re.I)
# synthetic data has no stored order to break up
_SYNTHETIC = lazy(r"random|fake|dummy|synthetic|mock|^randn?$|^rand_?like|^randint|^randn_like", re.I)
# DataLoader(dataset, batch_size, shuffle, sampler, batch_sampler, ...)
POSITIONS = {"batch_size": 1, "shuffle": 2, "sampler": 3, "batch_sampler": 4}


class TrainLoaderNotShuffled(CodeRule):
    code = "ML501"
    name = "train-loader-not-shuffled"
    severity = "warning"
    summary = "A training DataLoader does not shuffle (or shuffles together with a sampler, which PyTorch rejects)."
    rationale = (
        "Without `shuffle=True` (or a sampler), a DataLoader yields the training set in the same order every "
        "epoch. Datasets stored by class, by recording or by time then produce long single-class runs of "
        "batches: the model chases the current class, BatchNorm statistics drift, and the loss curve shows "
        "a sawtooth instead of converging. `shuffle=True` together with `sampler=`/`batch_sampler=` raises "
        "`ValueError` at construction (reported as an error). Validation/test loaders, iterable or streaming "
        "datasets (`IterableDataset`, webdataset, `streaming=True`), and loaders whose `shuffle=` is computed "
        "(`shuffle=(sampler is None)`, `shuffle=args.shuffle`) are not judged."
    )
    fix = "Pass `shuffle=True` to the training DataLoader, or a sampler that shuffles (`DistributedSampler(ds, shuffle=True)`), not both."
    examples = (
        flag("train.py", """
            from torch.utils.data import DataLoader

            def loaders(train_set, val_set):
                train_loader = DataLoader(train_set, batch_size=64, num_workers=4)
                val_loader = DataLoader(val_set, batch_size=64)
                return train_loader, val_loader
            """, line=4, severity="warning", title="training loader without shuffle"),
        flag("train.py", """
            import torch
            from torchvision import datasets

            ds = datasets.CIFAR10("data", train=True, download=True)
            loader = torch.utils.data.DataLoader(ds, batch_size=128, shuffle=False)
            """, line=5, title="dataset built with train=True, shuffle=False"),
        flag("finetune.py", """
            from datasets import load_dataset
            from torch.utils.data import DataLoader

            ds = load_dataset("imdb", split="train")
            ds = ds.map(lambda row: {"n": len(row["text"])})
            loader = DataLoader(ds, batch_size=16, shuffle=False)
            """, line=6, title="the split is named before a .map() chain"),
        flag("data.py", """
            import pytorch_lightning as pl
            from torch.utils.data import DataLoader

            class Data(pl.LightningDataModule):
                def train_dataloader(self):
                    return DataLoader(self.train_ds, batch_size=32)
            """, line=6, title="Lightning train_dataloader"),
        flag("train.py", """
            from torch.utils.data import DataLoader, DistributedSampler

            def build(train_dataset, world_size, rank):
                sampler = DistributedSampler(train_dataset, num_replicas=world_size, rank=rank)
                return DataLoader(train_dataset, batch_size=16, shuffle=True, sampler=sampler)
            """, line=5, severity="error", title="shuffle=True with a sampler raises ValueError"),
        ok("train.py", """
            from torch.utils.data import DataLoader

            def loaders(train_set, val_set, test_set):
                train_loader = DataLoader(train_set, batch_size=64, shuffle=True)
                val_loader = DataLoader(val_set, batch_size=64, shuffle=False)
                test_loader = DataLoader(test_set, batch_size=64)
                return train_loader, val_loader, test_loader
            """, title="val/test loaders need no shuffling"),
        ok("train.py", """
            from torch.utils.data import DataLoader
            from torch.utils.data.distributed import DistributedSampler

            def build(train_dataset, distributed, batch_sampler_cls):
                sampler = DistributedSampler(train_dataset) if distributed else None
                train_loader = DataLoader(train_dataset, batch_size=16, shuffle=(sampler is None), sampler=sampler)
                other = DataLoader(train_dataset, batch_sampler=batch_sampler_cls(train_dataset))
                return train_loader, other
            """, title="sampler-driven and computed shuffle"),
        ok("train.py", """
            from torch.utils.data import DataLoader

            def build(args, train_ds):
                return DataLoader(train_ds, batch_size=args.batch_size, shuffle=args.shuffle)
            """, title="shuffle from a flag"),
        ok("stream.py", """
            from datasets import load_dataset
            from torch.utils.data import DataLoader

            train_stream = load_dataset("c4", "en", split="train", streaming=True)
            train_loader = DataLoader(train_stream, batch_size=8)
            """, title="streaming dataset"),
        ok("wds_train.py", """
            import webdataset as wds
            from torch.utils.data import DataLoader, IterableDataset

            class TrainShards(IterableDataset):
                def __iter__(self):
                    yield from range(10)

            train_loader = DataLoader(TrainShards(), batch_size=32)
            train_wds = DataLoader(wds.WebDataset("train-{0000..0099}.tar"), batch_size=None)
            """, title="IterableDataset and webdataset"),
        ok("test_trainer.py", """
            import torch
            from torch.utils.data import DataLoader, TensorDataset

            class RandomDataset(torch.utils.data.Dataset):
                def __len__(self):
                    return 64

                def __getitem__(self, i):
                    return torch.randn(32)

            def train_dataloader():
                return DataLoader(RandomDataset(), batch_size=2)

            train_loader = DataLoader(TensorDataset(torch.randn(64, 8), torch.randint(0, 2, (64,))), batch_size=8)
            """, title="random/synthetic data has no order to break up"),
        ok("loader.py", """
            import torch

            def build(train_set, batch_sampler_wrapper):
                wrapped = batch_sampler_wrapper(train_set, shuffle=True, seed=0)
                return torch.utils.data.DataLoader(wrapped, batch_size=None, shuffle=False)
            """, title="a dataset that batches and shuffles itself (batch_size=None)"),
        ok("train.py", """
            from torch.utils.data import DataLoader

            def build(train_set, **kwargs):
                return DataLoader(train_set, **kwargs)
            """, title="options passed through **kwargs"),
    )

    def wants(self, text: str) -> bool:
        return "DataLoader" in text  # only ``DataLoader(...)`` calls are judged

    def visit_Module(self, node, ctx) -> None:
        self._assignments = {}

    def visit_Call(self, node: ast.Call, ctx) -> None:
        if call_name(node) != "DataLoader":
            return
        if any(kw.arg is None for kw in node.keywords) or any(isinstance(a, ast.Starred) for a in node.args):
            return  # **kwargs may carry shuffle/sampler
        dataset = node.args[0] if node.args else keyword(node, "dataset")
        if dataset is None:
            return
        scope = ctx.enclosing(ast.FunctionDef, ast.AsyncFunctionDef) or ctx.doc.tree
        index = file_index(ctx)
        words = self._words(node, dataset, ctx, scope)
        sources = [dataset] + self._definitions(dataset, scope, node)
        dataset_words = set()
        for source in sources:
            dataset_words.update(self._expr_words(source))
            split = self._split(source)
            if split is not None:
                dataset_words.add("train" if split else "val")
        words |= dataset_words
        if not (words & TRAIN_TOKENS) or (words & EVAL_TOKENS):
            return
        if any(self._iterable(source, index) for source in sources):
            return
        batch_size = self._argument(node, "batch_size")
        if isinstance(batch_size, ast.Constant) and batch_size.value is None:
            return  # the dataset yields whole batches itself (and orders them)
        shuffle = self._argument(node, "shuffle")
        sampler = self._argument(node, "sampler")
        batch_sampler = self._argument(node, "batch_sampler")
        given = [(k, v) for k, v in (("sampler", sampler), ("batch_sampler", batch_sampler))
                 if v is not None and not (isinstance(v, ast.Constant) and v.value is None)]
        if isinstance(shuffle, ast.Constant) and shuffle.value is True:
            certain = [(k, v) for k, v in given if self._surely_set(v, scope, node)]
            if certain:
                kind, value = certain[0]
                ctx.report(
                    self, shuffle,
                    f"training DataLoader gets `shuffle=True` together with `{kind}={describe(value, 40)}`: "
                    f"PyTorch raises `ValueError: {kind} option is mutually exclusive with shuffle` when it is built",
                    severity="error",
                    help=f"Drop `shuffle=True` and let the {kind} shuffle (e.g. `DistributedSampler(ds, shuffle=True)` "
                         f"with `sampler.set_epoch(epoch)` each epoch).",
                )
            return
        if given:
            return
        if shuffle is None:
            where, seen = node, "without `shuffle=`"
        elif isinstance(shuffle, ast.Constant) and shuffle.value in (False, 0, None):
            where, seen = shuffle, f"with `shuffle={shuffle.value}`"
        else:
            return  # computed: shuffle=(sampler is None), shuffle=args.shuffle
        ctx.report(
            self, where,
            f"training DataLoader over `{describe(dataset, 40)}` is built {seen} and without a sampler: every epoch "
            f"sees the samples in the same stored order, so batches follow the file/class order and training "
            f"oscillates instead of converging",
            help="Pass `shuffle=True` (or a shuffling sampler such as `DistributedSampler(ds, shuffle=True)`).",
        )

    # -- pieces ------------------------------------------------------------------
    def _argument(self, call: ast.Call, name: str) -> Optional[ast.expr]:
        value = keyword(call, name)
        if value is None and len(call.args) > POSITIONS[name]:
            value = call.args[POSITIONS[name]]
        return value

    def _words(self, node: ast.Call, dataset, ctx, scope) -> set:
        words = set()
        parent = ctx.parent
        if isinstance(parent, ast.keyword):
            parent = None
        if isinstance(parent, (ast.Assign, ast.AnnAssign)):
            targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
            for target in targets:
                for element in (target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]):
                    words.update(_identifier_tokens(dotted(element) or describe(element, 80)))
        elif isinstance(parent, ast.Return) and isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
            words.update(_identifier_tokens(scope.name))
        elif isinstance(parent, ast.Dict):
            for key, value in zip(parent.keys, parent.values):
                if value is node and isinstance(key, ast.Constant) and isinstance(key.value, str):
                    words.update(_identifier_tokens(key.value))
        return words

    def _expr_words(self, expr) -> set:
        words = set()
        for node in walk(expr):
            if isinstance(node, ast.Name):
                words.update(_identifier_tokens(node.id))
            elif isinstance(node, ast.Attribute):
                words.update(_identifier_tokens(node.attr))
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) < 40:
                words.update(_identifier_tokens(node.value))
        return words

    def _split(self, expr) -> Optional[bool]:
        """``CIFAR10(root, train=True)`` → True; ``train=False`` / ``split="val"`` → False."""
        if not isinstance(expr, ast.Call):
            return None
        train = keyword(expr, "train")
        if isinstance(train, ast.Constant) and isinstance(train.value, bool):
            return train.value
        return None

    def _definitions(self, expr, scope, before: ast.AST, every: bool = False) -> List[ast.expr]:
        """The value a local name was last assigned in this scope before the call (``every``: all of them)."""
        name = dotted(expr) if isinstance(expr, (ast.Name, ast.Attribute)) else ""
        if not name:
            return []
        table = self._assignments.get(id(scope))
        if table is None:
            table = {}
            for node in scope_nodes(scope):
                if isinstance(node, ast.Assign):
                    for target in node.targets:
                        if dotted(target):
                            table.setdefault(dotted(target), []).append(node)
            for nodes in table.values():
                nodes.sort(key=lambda n: (n.lineno, n.col_offset))
            self._assignments[id(scope)] = table
        if every:
            return [node.value for node in table.get(name, ())]
        earlier = [node for node in table.get(name, ()) if node.lineno <= before.lineno]
        values = []
        # ``ds = load_dataset(..., split="train")`` then ``ds = ds.map(...)``: follow the chain back
        while earlier and len(values) < 8:
            value = earlier.pop().value
            values.append(value)
            if not any(isinstance(n, (ast.Name, ast.Attribute)) and dotted(n) == name for n in walk(value)):
                break
        return values

    def _iterable(self, expr, index) -> bool:
        """Iterable, streaming or self-shuffling datasets (``Wrapper(ds, shuffle=True)``)."""
        for node in walk(expr):
            if isinstance(node, ast.keyword) and node.arg and "shuffle" in node.arg.lower() and \
                    not (isinstance(node.value, ast.Constant) and node.value.value in (False, None, 0)):
                return True
            if isinstance(node, ast.keyword) and node.arg == "streaming" and isinstance(node.value, ast.Constant) \
                    and node.value.value is True:
                return True
            text = ""
            if isinstance(node, ast.Name):
                text = node.id
            elif isinstance(node, ast.Attribute):
                text = node.attr
            if text and (_ITERABLE.search(text) or _SYNTHETIC.search(text)):
                return True
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in index.classes:
                klass = index.classes[node.func.id]
                if any(_ITERABLE.search(dotted(b) or "") for b in klass.bases):
                    return True
                if any(isinstance(s, ast.FunctionDef) and s.name == "__iter__" for s in klass.body) and \
                        not any(isinstance(s, ast.FunctionDef) and s.name == "__getitem__" for s in klass.body):
                    return True
        return False

    def _surely_set(self, value, scope, call) -> bool:
        """A sampler that is certainly not None: built inline, or a name only ever bound to a constructor."""
        if isinstance(value, ast.Call):
            return True
        definitions = self._definitions(value, scope, call, every=True)
        return bool(definitions) and all(isinstance(d, ast.Call) for d in definitions)


def _identifier_tokens(text: str) -> set:
    return set(name_tokens(text))


