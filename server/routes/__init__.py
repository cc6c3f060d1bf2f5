"""HTTP routes, one module per route group."""
