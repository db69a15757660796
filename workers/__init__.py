"""Celery workers: thin task wrappers that call app services (see DESIGN.md, "The send
pipeline"). The send pipeline is not built yet; nothing here runs until it is."""
