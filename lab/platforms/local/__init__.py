"""The local platform: vLLM CPU engines and vllm-router as processes on loopback."""
