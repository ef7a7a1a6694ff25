"""The files the lab's Locust processes write and results read: their columns, in order."""

# requests.csv: one row per request, each column with whether every reader needs it (compare
# refuses a file without it: lab.compare.runsets) or reads it when present (runs of older lab
# versions lack it, or only the summary reads it). lab.results.summary.Sample is one row.
COLUMNS: dict[str, bool] = {
    "request_id": False,
    "start_time": True,
    "scenario": False,
    "level": True,
    "user": False,
    "session": True,
    "round": False,
    "engine": True,
    "prompt_tokens": True,
    "output_tokens": True,
    "cached_tokens": False,
    "ttft_ms": True,
    "tpot_ms": True,
    "itl_ms_mean": False,
    "e2e_ms": True,
    "status": True,
    "error": False,
    "failure": False,  # how a failed request failed (lab.inproc.failures); empty when ok
    "phase": True,
    "lag_ms": False,
    "slo_ok": False,  # 1 or 0 by the SLO's limits (--lab-slo); empty without one, and when drained
    "itl_ms": True,
    "arm": False,  # A or B in a side-by-side A/B (lab.inproc.arms), else empty
    "referee_id": False,  # the engine referee's ID for it (lab.inproc.referee), when it is on
    # What the prompt was (lab.inproc.prompts): runs before it lack it, and cannot be exported.
    "prompt": False,
}
SAMPLE_COLUMNS = tuple(COLUMNS)
NEEDED_COLUMNS = tuple(name for name, needed in COLUMNS.items() if needed)

# <level>/client_cpu.csv: each Locust process's CPU time, sampled about once a second.
CPU_FILE = "client_cpu.csv"
# What the level's stop file says when Ctrl-C ends it: every user at once, requests cut short.
ABORT = "abort"
CPU_COLUMNS = ("time", "process", "cpu_s", "wait_s")
