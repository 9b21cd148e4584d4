"""Light-curve analysis shared by the white-light and spectroscopic steps (plain numpy)."""
