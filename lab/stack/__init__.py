"""The stack that is up, seen from outside whatever platform runs it: its endpoints and state,
the lab's own processes, metrics, the router, smoke test, routing check and status."""
