"""Route modules of the dashboard, one per concept."""
