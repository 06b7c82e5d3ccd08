"""Pure SLO logic: SLIs over artifact facts, error budgets, burn rates, policy states."""
