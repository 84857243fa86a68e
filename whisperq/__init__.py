"""The contract shared by the functions and the GPU runners: settings, jobs, object layout, store and queue."""

__version__ = "0.1.0"
