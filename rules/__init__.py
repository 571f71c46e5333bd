"""One module per rule; the registry discovers them. Installed as ``modellint.rules``."""
