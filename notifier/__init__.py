"""Delivery: one Channel interface, pure rendering, digests, the deliver step, channels."""
