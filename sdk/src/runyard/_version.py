"""The version of Runyard; the agent and the server are released with the same one."""

__version__ = "0.1.0"
