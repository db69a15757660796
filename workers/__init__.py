"""Celery workers: the app (`celery_app.py`) and thin tasks (`tasks.py`) that call the
services in app/delivery. Start them with `coalition worker` and `coalition scheduler`."""
