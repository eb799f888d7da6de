"""Training, evaluation, MLflow tracking and the registry (champion/challenger)."""
