"""Self-supervised training of RELF (data, losses, validation, the trainer)."""
