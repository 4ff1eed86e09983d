"""Media on S3 (STORAGE_URL=s3://...): django-storages' S3Storage, with each object's signed link
reused for a while rather than signed anew for every page (docs/decisions.md, "Signed links reused")."""

import hashlib

from django.core.cache import caches
from storages.backends import s3

# A quarter of the link's hour: shown by a page cached up to 15 minutes, it still has half an hour
# left when the browser lazily loads the image.
SIGNED_URL_REUSE_SECONDS = 15 * 60


class S3Storage(s3.S3Storage):
    def url(self, name, parameters=None, expire=None, http_method=None):
        if parameters or expire is not None or http_method or not self.querystring_auth or self.custom_domain:
            return super().url(name, parameters, expire, http_method)
        # Expired by time alone: an upload's name is never reused, and the cache is each process's own,
        # so new credentials or a new bucket (new processes) never meet an old link.
        where = f"{self.endpoint_url}|{self.bucket_name}|{self.location}|{name}"
        key = "signed-url:" + hashlib.sha256(where.encode()).hexdigest()
        url = caches["page_parts"].get(key)
        if url is None:
            url = super().url(name)
            caches["page_parts"].set(key, url, SIGNED_URL_REUSE_SECONDS)
        return url
