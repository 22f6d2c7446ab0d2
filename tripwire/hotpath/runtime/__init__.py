"""The running hot path: endpoints and keys by mode, and the process that wires the parts."""
