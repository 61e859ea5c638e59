"""``frontdesk run``: the edge and the app server as one stack under one supervisor."""
