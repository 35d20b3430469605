"""Capture of what a run is: its code (git), its environment, its parameters and its seed."""
