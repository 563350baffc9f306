"""The bridge's HTTP routes, one module per resource."""
