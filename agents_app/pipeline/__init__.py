"""The pipeline's machinery: a stage's context, the job queue, the runner and the reaper.

- context.py: StageContext (what a stage is given), Cancelled, StageError, set_lane;
- queue.py: the only module that talks to django-q2;
- runner.py: claim a stage, heartbeat while it runs, hand over to the next one, and end a
  task (done, failed, cancelled) with its report written and its sandbox removed;
- reaper.py: fail tasks whose worker died, queue again a job that was lost, remove
  sandboxes a crashed worker left.

The stages themselves are in agents_app/stages; jobs.py keeps the dotted paths django-q2
stores for queued jobs.
"""
