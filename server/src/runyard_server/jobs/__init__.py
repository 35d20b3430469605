"""Background jobs run by an rq worker beside the API (``python -m runyard_server.jobs``)."""
