"""The search state and its ownership: one driver per log dir, the state saved after every
trial state change, resuming after a crash, stopping cleanly."""
