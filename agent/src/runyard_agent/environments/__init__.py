"""Building what a task runs in: its code (``prepare_code``) and its Python (``ensure_venv``)."""

from runyard_agent.environments.code import prepare_code
from runyard_agent.environments.venv import Installer, ensure_venv

__all__ = ["Installer", "ensure_venv", "prepare_code"]
