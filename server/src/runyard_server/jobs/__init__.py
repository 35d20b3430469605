"""The jobs process beside the API (``python -m runyard_server.jobs``): the lease reaper."""
