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
    "itl_ms",
)
