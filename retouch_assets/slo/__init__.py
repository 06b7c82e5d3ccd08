"""The SLO layer's pure logic and queries: SLIs over artifact facts, error budgets, burn-rate
alerts and policy states (`engine`), freezes and sign-offs (`governance`), named queries
(`queries`) and table declarations (`tables`)."""
