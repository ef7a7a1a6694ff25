"""Traces: recorded traffic read from a file (the lab's own JSONL, Mooncake, ShareGPT, OpenAI
batch lines, BurstGPT and Azure CSV), streamed line by line, checked per line, sampled by
whole sessions, made into the schedule a replay level sends (`prepare`), summed up (`stats`),
and written from a run's requests.csv (`export`)."""
