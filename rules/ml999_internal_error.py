from modellint.rule import EngineRule, ok


class InternalError(EngineRule):
    code = "ML999"
    name = "internal-error"
    severity = "error"
    summary = "A rule crashed on this file; every other rule and file still ran. Exit code 2."
    rationale = (
        "A linter bug must never hide the findings of the rules that did work, nor pass silently: the "
        "crash is reported as one finding with the exception summary, the run continues, and the exit "
        "code is 2 so CI notices."
    )
    fix = "Report the message (it names the rule and the line in modellint) to the modellint maintainers; suppress the code for this file meanwhile."
    # A crash cannot be written as an input file; tests inject a crashing rule instead.
    examples = (
        ok("train.py", """
            import torch
            model = torch.nn.Linear(4, 2)
            """),
    )
