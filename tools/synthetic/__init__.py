"""Synthetic data: the demo's generator and the field-like world used to measure detection."""
