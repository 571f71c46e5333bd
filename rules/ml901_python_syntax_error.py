from modellint.rule import EngineRule, flag, ok


class PythonSyntaxError(EngineRule):
    code = "ML901"
    name = "python-syntax-error"
    severity = "error"
    summary = "A Python file cannot be read or parsed; every other file is still linted."
    rationale = (
        "A file modellint cannot parse is a file none of its rules can check: a training script with a "
        "syntax error will also fail the moment a job starts. Binary files with a .py name, text that is "
        "not valid in the declared encoding and files above the 5 MB limit (an info note) land here too."
    )
    fix = "Fix the syntax error at the reported line and column (run `python -m py_compile FILE`)."
    examples = (
        flag("train.py", """
            import torch

            def train(model:
                pass
            """, line=3),
        ok("train.py", """
            import torch

            def train(model):
                pass
            """),
    )
