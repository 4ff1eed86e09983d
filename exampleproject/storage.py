"""
Media on S3 (STORAGE_URL=s3://...): django-storages' S3Storage, whose signed links are reused
for a while instead of signed anew for every page that shows them. botocore spends 0.2 to
0.4 ms of a worker's CPU signing one, so a page of ten images cost 2 to 4 ms more than a page
without (bench/profile.py).
"""

import hashlib

from django.core.cache import caches
from storages.backends import s3

# A link is reused for the first quarter of its hour; shown by a page that is itself cached
# for up to 15 minutes (as the example app caches its pages of entries), it still has at
# least half an hour left when the page reaches the browser, to load a lazily loaded image.
SIGNED_URL_REUSE_SECONDS = 15 * 60


class S3Storage(s3.S3Storage):
    """S3Storage, with each object's signed link reused for SIGNED_URL_REUSE_SECONDS."""

    def url(self, name, parameters=None, expire=None, http_method=None):
        if parameters or expire is not None or http_method or not self.querystring_auth or self.custom_domain:
            return super().url(name, parameters, expire, http_method)
        # Invalidated by time alone: an upload's name is never reused (the example app names
        # each at random), so a link always means the same file, and a deleted object's link
        # stops working with it. The cache is each process's own (CACHES["render"]), so a new
        # bucket or new credentials (a new release, new processes) never meet an old link.
        where = f"{self.endpoint_url}|{self.bucket_name}|{self.location}|{name}"
        key = "signed-url:" + hashlib.sha256(where.encode()).hexdigest()
        render_cache = caches["render"]
        url = render_cache.get(key)
        if url is None:
            url = super().url(name)
            render_cache.set(key, url, SIGNED_URL_REUSE_SECONDS)
        return url
