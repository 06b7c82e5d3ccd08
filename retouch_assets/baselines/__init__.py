"""Weekly baselines and the regression guardrail for new model and prompt versions."""
