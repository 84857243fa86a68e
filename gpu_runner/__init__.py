"""GPU runners: long-running worker processes, one per device, that take jobs from the queue."""
