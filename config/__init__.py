"""Project configuration: settings, URLs, schedules, the in-process event dispatcher and the
application error type shared by every app. Imports no domain app at import time."""
