"""The per-request samples file (requests.csv) the Locust user writes and results read:
its columns, in order."""

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
