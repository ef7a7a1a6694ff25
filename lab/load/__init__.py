"""Load generation: levels planned from scenarios, Locust runs, resilience events, A/B."""
