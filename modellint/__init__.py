"""modellint: a static linter for deep-learning training code and configs."""

import os as _os

__version__ = "0.1.0"

# Installed, ``rules/`` is the subpackage ``modellint.rules`` (a package-dir
# mapping in pyproject.toml). Run from a source checkout without installing,
# the same folder is found beside this package.
_checkout = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if not _os.path.isdir(_os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "rules")) and _os.path.isfile(
    _os.path.join(_checkout, "rules", "__init__.py")
) and _os.path.isfile(_os.path.join(_checkout, "pyproject.toml")):
    __path__.append(_checkout)  # noqa: F821 - the package's own __path__
