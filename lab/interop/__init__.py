"""Other tools' results, read into results folders and written from them: `lab import` of
`vllm bench serve`'s saved results (vllm_bench) and GuideLLM's benchmarks.json (guidellm), the
folder an import becomes (imported), and `lab export vllm-bench` (vllm_bench)."""
