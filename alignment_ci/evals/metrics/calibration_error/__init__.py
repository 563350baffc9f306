"""Package marker so the evaluate module ships with the wheel."""
