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
    "slo_ok",  # 1 or 0 by the SLO's limits (--lab-slo); empty without an SLO, and when drained
    "itl_ms",
    "arm",  # A or B in a side-by-side A/B (lab.inproc.arms), else empty
)

# <level>/client_cpu.csv: each Locust process's CPU time, sampled about once a second.
CPU_FILE = "client_cpu.csv"
CPU_COLUMNS = ("time", "process", "cpu_s", "wait_s")
