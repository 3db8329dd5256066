"""Figures. They take arrays and histories and write image files; they never train."""
