"""Synthetic data, beside the product: the demo's generator and the field-like world. They read and
write a home through the same API as the jobs, and nothing in the product imports them."""
