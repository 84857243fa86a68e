"""LLM refinement of finished transcripts: its own stage, so a GPU runner never waits on an LLM.

The runner marks a job ``done`` with the raw text and, when ``upgrade_transcribation`` is set, puts a
pending ``refine`` object in the manifest and a message on the refine queue. ``whisperq refiner``
takes the message, asks the LLM, writes ``refined/{job_id}/{run}.json`` once and records the outcome
in the manifest's ``refine`` object. The raw transcript in ``results/`` is never touched.
"""
