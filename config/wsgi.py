import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# Everything made at start-up (modules, the URL patterns and the views, serializers and schema
# they import) lives as long as the worker. Loaded here, then frozen out of the collector's sight:
# a full collection otherwise walks those ~126k objects, about 70 ms, a few times per 200 requests
# of the week's session list, and that was its p99 (bench/session_list.py, issue 18).
get_resolver().url_patterns  # noqa: B018 - imports every view now, not on the first request
gc.collect()  # start-up's garbage goes first, rather than being frozen for the worker's life
gc.freeze()
