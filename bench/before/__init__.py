"""
The guestbook page as it was before its rendering was cached (views.py, templates/): the
benchmark's and the tests' reference. Served only by bench.settings, at BEFORE_PATH.
"""

BEFORE_PATH = "/before/"
