"""When and where runs happen: scheduler, workers, monitor. Knows nothing of files."""
