"""
Security headers Django does not set by itself.

Content-Security-Policy: the pages load scripts, styles, images and fonts from this site
only, and no inline code runs, so an injected <script> does nothing. Django 5.2 has no
CSP support of its own (6.0 adds it); the policy comes from settings.CONTENT_SECURITY_POLICY.
"""

from django.conf import settings


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.policy = settings.CONTENT_SECURITY_POLICY

    def __call__(self, request):
        response = self.get_response(request)
        if self.policy:
            response.headers.setdefault("Content-Security-Policy", self.policy)
        return response
