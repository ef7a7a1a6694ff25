"""The Kubernetes platforms (kind, Minikube, an existing cluster) and their helpers: the
Kubernetes API, pod readiness, port-forwards, GPUs, prerequisites and teardown."""
