"""What several test modules share, by concern: paths, processes, checkpoints, the scan, training runs."""
