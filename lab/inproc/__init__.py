"""Code that runs inside another process, and only there: the Locust user and its timing
(under gevent), and the middleware the lab adds to vLLM engines."""
