"""Ground helpers every layer may use: addresses, checksums, measured figures, the names of what
a run creates on Drone, signals, the version. They import nothing of the project but its errors."""
