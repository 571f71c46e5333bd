"""Model instantiation: build the user's model in a child process and check it.

Static rules can say "every encoder looks frozen"; the model itself can say
it for certain. ``modellint inspect TARGET`` and ``modellint check
--instantiate TARGET`` start ``python -m modellint.instantiate.child``,
which imports the target, builds it on the ``meta`` device (no memory for
weights) and describes it as JSON. The parent turns that report into a
parameter table, ML6xx findings, and verdicts on the static ML302/ML303
findings.

Layout (data flows forward):

* ``request.py`` — TARGET, constructor kwargs and options, resolved from
  the command line and ``[tool.modellint.instantiate]`` (no torch).
* ``child.py`` — the child process (stdlib + torch only).
* ``runner.py`` — start the child with a timeout, read its report, turn
  failures into one clear line.
* ``report.py`` — the report as objects (``ModelReport``), the text table.
* ``stage.py`` — ML6xx findings and the verdicts on static findings for
  ``check --instantiate``.
* ``inspection.py`` — the ``modellint inspect`` command.

Nothing here imports torch: only the child does.
"""

INSTALL_HINT = "pip install 'modellint[torch]'"
