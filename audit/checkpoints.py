"""Signed checkpoints of chain heads (to be completed)."""


def after_append(*, chain: str, previous_seq: int, seq: int, head_hash: str) -> None:
    """Called inside the append transaction; writes a checkpoint every N events."""
