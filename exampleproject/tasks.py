"""What a task may raise to be run again later: the worker (manage.py worker) records this run as
failed, with the error that caused it, and enqueues the next run in the same transaction."""


class Retry(Exception):
    def __init__(self, after, **kwargs):
        """Run the task again `after` seconds from now, with `kwargs` replacing its keyword arguments."""
        super().__init__(f"run again in {after:g} s")
        self.after, self.kwargs = after, kwargs
