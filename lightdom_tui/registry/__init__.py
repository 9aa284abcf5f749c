"""Model registry, evaluation, A/B tests, deployments, monitoring, continuous training."""
