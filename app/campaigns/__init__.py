"""Action alerts: composing, audiences, approval, scheduling."""
