"""The files the lab's Locust processes write and results read: their columns, in order."""

# requests.csv: one row per request.
SAMPLE_COLUMNS = (
    "request_id",
    "start_time",
    "scenario",
    "level",
    "user",
    "session",
    "round",
    "engine",
    "prompt_tokens",
    "output_tokens",
    "cached_tokens",
    "ttft_ms",
    "tpot_ms",
    "itl_ms_mean",
    "e2e_ms",
    "status",
    "error",
    "phase",
    "lag_ms",
    "itl_ms",
)

# client_cpu.csv: each Locust process's CPU time, sampled about once a second.
CPU_COLUMNS = ("time", "process", "cpu_s", "wait_s")
