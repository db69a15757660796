"""Demonstration data: a deterministic, plausible member registry (`coalition demo seed`)."""
