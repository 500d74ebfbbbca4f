"""Floor functions: the least a function can do, started exactly as the real ones are."""
