"""The ``runyard`` command line: tasks, queues and workers of a Runyard server."""
