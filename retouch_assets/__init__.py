"""retouch_assets: quality gates, SLOs and error budgets for AI-generated marketing images."""
