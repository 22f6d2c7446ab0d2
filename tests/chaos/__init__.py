"""Fault runs at full load (``-m chaos``): slower than the unit tests, run by CI too."""
