"""Building what a task runs in: its code (``prepare_code``) and its Python (``ensure_venv``)."""

from runyard_agent.environments.code import prepare_code

__all__ = ["prepare_code"]
